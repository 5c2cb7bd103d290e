"""The `pixsearch import` and `pixsearch export` commands (registered by cli.py)."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from pixsearch.catalogue.check import RowFailure, check_rows
from pixsearch.catalogue.importer import ImportOptions, Outcome, plan_batches, send_batches
from pixsearch.catalogue.progress import Progress, open_progress
from pixsearch.catalogue.rows import Source, SourceError, detect_kind
from pixsearch.catalogue.state import ImportState, StateMismatch
from pixsearch.client.errors import ClientError

UrlOption = Annotated[
    str, typer.Option("--url", envvar="PIXSEARCH_URL", help="The service's base URL.")
]
KeyOption = Annotated[
    str, typer.Option("--key", envvar="PIXSEARCH_API_KEY", help="An API key of the organisation.")
]
MODES = ("add", "replace", "patch")
EXIT_FAILED_ROWS, EXIT_CANNOT_RUN = 1, 2


def import_command(
    source: Annotated[
        str | None, typer.Argument(help="A JSON Lines or CSV file, or - for standard input.")
    ] = None,
    url: UrlOption = "http://127.0.0.1:8000",
    key: KeyOption = "",
    mode: Annotated[str, typer.Option(help="add, replace or patch.")] = "add",
    format_: Annotated[
        str | None, typer.Option("--format", help="jsonl or csv; default: by the file's suffix.")
    ] = None,
    separator: Annotated[str, typer.Option(help="Separator of list fields in a CSV.")] = "|",
    batch_size: Annotated[int, typer.Option(min=1, help="Most rows per request.")] = 1000,
    batch_bytes: Annotated[int, typer.Option(min=1024, help="Most bytes per request body.")] = 8
    * 1024
    * 1024,
    concurrency: Annotated[int, typer.Option(min=1, help="Batches in flight at once.")] = 4,
    strict: Annotated[bool, typer.Option(help="Strict mode of the API.")] = False,
    subset: Annotated[bool, typer.Option(help="Apply a batch's good rows.")] = False,
    urgent: Annotated[bool, typer.Option(help="Queue ahead of non-urgent work.")] = False,
    lang: Annotated[str, typer.Option(help="Language of generated keywords.")] = "en",
    check: Annotated[bool, typer.Option(help="Only validate every row and report.")] = False,
    state: Annotated[
        Path | None, typer.Option(help="State file; default: SOURCE.import-state.")
    ] = None,
    errors: Annotated[
        Path | None, typer.Option(help="Write failed rows here (JSON Lines: id, row, msg).")
    ] = None,
    folder: Annotated[
        Path | None, typer.Option(help="Import the image files under this folder.")
    ] = None,
    base_url: Annotated[
        str | None, typer.Option(help="With --folder: the URL the folder is served at.")
    ] = None,
    progress: Annotated[
        bool | None, typer.Option(help="Progress bar (default: when a terminal).")
    ] = None,
) -> None:
    """Import a catalogue: validate every row, then send batches; resumable."""
    with ExitStack() as stack:
        the_source, state_path = open_source(stack, source, format_, separator, folder, base_url)
        if mode not in MODES:
            fail(f"--mode must be one of {', '.join(MODES)}")
        options = ImportOptions(
            mode, batch_size, batch_bytes, concurrency, strict, subset, urgent, lang
        )
        started = time.monotonic()
        try:
            checked = check_rows(the_source.rows(), mode)
        except (SourceError, OSError, UnicodeDecodeError) as error:
            fail(str(error))
        if checked.failures or check:
            write_report(errors, checked.failures)
            typer.echo(
                f"checked {checked.rows:,} rows: {len(checked.failures):,} invalid"
                + ("" if check else "; nothing was sent"),
                err=True,
            )
            for failure in checked.failures[:10]:
                typer.echo(f"  row {failure.row} (id {failure.id!r}): {failure.msg}", err=True)
            raise typer.Exit(EXIT_FAILED_ROWS if checked.failures else 0)
        if not key:
            fail("an API key is needed: --key or PIXSEARCH_API_KEY")
        try:
            import_state = ImportState.open(
                state if state is not None else state_path, checked.fingerprint, options.recorded()
            )
        except StateMismatch as error:
            fail(str(error))
        bar = open_progress(checked.rows, progress)
        outcome = run_or_exit(the_source, url, key, options, import_state, bar)
        write_report(errors, outcome.failures)
        summarise(checked.rows, outcome, time.monotonic() - started, import_state)
        if outcome.failures:
            raise typer.Exit(EXIT_FAILED_ROWS)


def run_or_exit(
    source: Source, url: str, key: str, options: ImportOptions, state: ImportState, bar: Progress
) -> Outcome:
    """Run the import; a failure of the service or Ctrl-C ends the command, resumable."""
    try:
        try:
            return asyncio.run(run_import(source, url, key, options, state, bar))
        except* ClientError as group:
            fail(f"{group.exceptions[0]}; run the same command again to resume")
            raise AssertionError("unreachable") from None
    except KeyboardInterrupt:
        typer.echo("interrupted; run the same command again to resume", err=True)
        raise typer.Exit(130) from None
    finally:
        bar.close()


async def run_import(
    source: Source,
    url: str,
    key: str,
    options: ImportOptions,
    state: ImportState,
    bar: Progress,
) -> Outcome:
    from pixsearch.client.aio import AsyncClient

    batches = plan_batches(source.rows(), options.batch_size, options.batch_bytes)
    async with AsyncClient(url, key) as client:
        return await send_batches(client, batches, options, state, bar)


def open_source(
    stack: ExitStack,
    given: str | None,
    format_: str | None,
    separator: str,
    folder: Path | None,
    base_url: str | None,
) -> tuple[Source, Path | None]:
    """The source, and where its state file goes by default (None: standard input)."""
    if folder is not None:
        if given is not None or not base_url:
            fail("--folder takes --base-url and no SOURCE")
        assert base_url is not None
        if not folder.is_dir():
            fail(f"{folder} is not a folder")
        state = folder.parent / f"{folder.resolve().name}.import-state"
        return Source("folder", folder, base_url=base_url), state
    if given is None:
        fail("give a SOURCE file, - for standard input, or --folder DIR --base-url URL")
    assert given is not None
    if given == "-":
        spool = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "stdin"
        with spool.open("wb") as out:
            shutil.copyfileobj(sys.stdin.buffer, out)
        return Source(format_ or "jsonl", spool, separator), None
    path = Path(given)
    if not path.is_file():
        fail(f"{path}: no such file")
    kind = detect_kind(path, format_)
    if kind not in ("jsonl", "csv"):
        fail("--format must be jsonl or csv")
    return Source(kind, path, separator), path.with_name(path.name + ".import-state")


def write_report(path: Path | None, failures: list[RowFailure]) -> None:
    if path is None:
        return
    with path.open("w", encoding="utf-8") as out:
        for failure in sorted(failures, key=lambda failure: failure.row):
            out.write(json.dumps(failure.as_json(), ensure_ascii=False) + "\n")


def summarise(rows: int, outcome: Outcome, seconds: float, state: ImportState) -> None:
    resumed = f", {outcome.resumed} done earlier" if outcome.resumed else ""
    typer.echo(
        f"imported {rows:,} rows in {outcome.batches} batches{resumed}: "
        f"{outcome.applied:,} applied, {len(outcome.failures):,} failed, "
        f"in {seconds:,.1f} s ({rows / max(seconds, 1e-9):,.0f} rows/s)"
        + (f"; state in {state.path}" if state.path else ""),
        err=True,
    )


def export_command(
    url: UrlOption = "http://127.0.0.1:8000",
    key: KeyOption = "",
    q: Annotated[str, typer.Option("--q", help="Only the images this formula matches.")] = "",
    fields: Annotated[
        list[str] | None, typer.Option("--fields", help="Only these fields (repeat it).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Export the catalogue as JSON Lines (one image a line) that `import` reads back."""
    from pixsearch.catalogue.export import export_rows
    from pixsearch.client.sync import Client

    if not key:
        fail("an API key is needed: --key or PIXSEARCH_API_KEY")
    with ExitStack() as stack:
        out = stack.enter_context(output.open("w", encoding="utf-8")) if output else sys.stdout
        client = stack.enter_context(Client(url, key))
        try:
            written = export_rows(client, out, q, fields)
        except ClientError as error:
            fail(str(error))
    typer.echo(f"exported {written:,} images", err=True)


def fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_CANNOT_RUN)
