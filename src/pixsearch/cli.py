"""The `pixsearch` command: serve, worker, keys, db, models, import, export. Builds
Settings() once (import and export are clients: they read no settings)."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pixsearch.catalogue.commands import export_command, import_command
from pixsearch.config import Settings

if TYPE_CHECKING:
    import sqlalchemy as sa

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Self-hosted image search.")
keys_app = typer.Typer(no_args_is_help=True, help="Manage API keys.")
db_app = typer.Typer(no_args_is_help=True, help="Manage the database schema.")
models_app = typer.Typer(no_args_is_help=True, help="Manage the AI models.")
app.add_typer(keys_app, name="keys")
app.add_typer(db_app, name="db")
app.add_typer(models_app, name="models")
app.command("import")(import_command)
app.command("export")(export_command)


def freeze_start_up() -> None:
    """Take what start-up made (modules, tables, the app) out of the collector's view: it
    lives as long as the process, and the full collections that a batch of thousands of
    rows triggers would walk it again and again (10k-row patch: 1.6 s -> 1.2 s). Done by
    the long-running commands only, not by every app a test creates."""
    gc.freeze()


def _settings(**overrides: object) -> Settings:
    from pixsearch.monitoring.logs import configure_logging

    settings = Settings(**overrides)  # type: ignore[arg-type]
    configure_logging(settings.log_level, settings.log_format)
    return settings


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[bool, typer.Option(help="Run operations in this process too.")] = True,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve /metrics on this port instead of the API port."),
    ] = None,
) -> None:
    """Start the HTTP API (and, by default, its in-process workers)."""
    import uvicorn

    from pixsearch.app import create_app

    settings = _settings(**_given(metrics_port=metrics_port))
    api = create_app(settings, run_workers=workers)
    freeze_start_up()
    uvicorn.run(
        api,
        host=host,
        port=port,
        log_level=settings.log_level,
        log_config=None,  # uvicorn's lines go through our handler, in our format
        access_log=False,  # the monitoring middleware logs each request, with its id
    )


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="Operations run at once.")] = 4,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve this worker's /metrics on this port (default: none)."),
    ] = None,
) -> None:
    """Run operations only (no API): for deployments with several processes."""
    from pixsearch.standalone import run_worker

    settings = _settings(**_given(metrics_port=metrics_port))
    freeze_start_up()
    asyncio.run(run_worker(settings, concurrency))


def _given(**options: object) -> dict[str, object]:
    """The command-line options that were given: they override the environment."""
    return {name: value for name, value in options.items() if value is not None}


@keys_app.command("create")
def keys_create(org: Annotated[str, typer.Option(help="Organisation name.")]) -> None:
    """Create an API key; it is shown once, as the last word of the last line."""
    from pixsearch.tenants.service import create_key

    with _engine().begin() as conn:
        key = create_key(conn, org)
    typer.echo(f"Created a key for organisation {org!r}. It is shown only this once:")
    typer.echo(key)


@keys_app.command("list")
def keys_list() -> None:
    """List organisations and their key prefixes."""
    from pixsearch.db.clock import iso_ms
    from pixsearch.tenants.service import list_keys

    with _engine().connect() as conn:
        rows = list_keys(conn)
    typer.echo(f"{'ORGANISATION':24} {'PREFIX':14} {'CREATED':26} REVOKED")
    for row in rows:
        typer.echo(
            f"{row.org:24} {row.prefix:14} {iso_ms(row.created_at):26} "
            f"{iso_ms(row.revoked_at) or '-'}"
        )


@keys_app.command("revoke")
def keys_revoke(prefix: Annotated[str, typer.Argument(help="The key's prefix.")]) -> None:
    """Revoke a key by its prefix (as `keys list` shows it)."""
    from pixsearch.errors import NotFound
    from pixsearch.tenants.service import revoke_key

    try:
        with _engine().begin() as conn:
            revoke_key(conn, prefix)
    except NotFound as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Revoked {prefix}.")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations."""
    from pixsearch.db.engine import create_db_engine
    from pixsearch.db.migrate import upgrade

    settings = _settings()
    upgrade(create_db_engine(settings.resolved_database_url))
    typer.echo("Database is up to date.")


@models_app.command("pull")
def models_pull(
    name: Annotated[
        str | None, typer.Argument(help="Hub repository; default: both configured.")
    ] = None,
    source: Annotated[
        Path | None,
        typer.Option("--from", help="Convert this already downloaded snapshot; no network."),
    ] = None,
) -> None:
    """Download models into PIXSEARCH_DATA_DIR/models (the only command that downloads)."""
    from pixsearch.runtimes.base import ModelLayoutError
    from pixsearch.runtimes.hub import pull_model

    settings = _settings()
    names = [name] if name else [n for n in (settings.clip_model, settings.text_model) if n]
    if source is not None and len(names) != 1:
        typer.echo("--from needs the NAME the snapshot is of", err=True)
        raise typer.Exit(2)
    for each in names:
        try:
            typer.echo(f"{each}: {pull_model(settings, each, source)}")
        except (ModelLayoutError, RuntimeError, OSError) as error:
            typer.echo(f"{each}: {error}", err=True)
            raise typer.Exit(1) from None


@models_app.command("list")
def models_list() -> None:
    """Show each configured model: present or not, dimension, size, license."""
    from pixsearch.runtimes.hub import list_models

    typer.echo(f"{'MODEL':45} {'KIND':6} {'PRESENT':8} {'DIM':5} {'MB':>8}  LICENSE")
    for info in list_models(_settings()):
        size = f"{info.size_bytes / 1e6:.1f}" if info.size_bytes else "-"
        typer.echo(
            f"{info.name:45} {info.kind:6} {'yes' if info.present else 'no':8} "
            f"{info.dim or '-':<5} {size:>8}  {info.license or '-'}"
        )


@models_app.command("reembed")
def models_reembed() -> None:
    """Queue operations that recompute embeddings and face identities made by other models."""
    from pixsearch.backend import open_backend
    from pixsearch.operations.reembed import enqueue_reembed
    from pixsearch.runtimes.registry import open_models

    settings = _settings()
    models = open_models(settings)
    if models.clip is None and models.text is None and models.identities is None:
        typer.echo("No model is present: " + "; ".join(models.reasons.values()), err=True)
        raise typer.Exit(1)
    clip = models.clip.name if models.clip else None
    text = models.text.name if models.text else None
    faces = models.identities.name if models.identities else None
    engine = _engine()
    backend = open_backend(engine)
    try:
        with engine.begin() as conn:
            queued = enqueue_reembed(conn, backend.dialect, clip, text, faces)
    finally:
        backend.close()
    for org, op_ids in queued.items():
        typer.echo(f"organisation {org!r}: operation(s) {', '.join(map(str, op_ids))} queued")
    if not queued:
        typer.echo("Every embedding is already made by the configured models.")


def _engine() -> sa.Engine:
    """A migrated engine for the CLI's short commands."""
    from pixsearch.db.engine import create_db_engine, writer
    from pixsearch.db.migrate import upgrade

    engine = create_db_engine(_settings().resolved_database_url)
    upgrade(engine)
    return writer(engine)


def main() -> None:
    app()
