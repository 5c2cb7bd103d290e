"""Batches, the state file and the failure report, without a server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pixsearch.catalogue.check import RowFailure
from pixsearch.catalogue.importer import (
    ALL_OR_NOTHING_MSG,
    ImportOptions,
    failures_of,
    plan_batches,
)
from pixsearch.catalogue.progress import LineProgress
from pixsearch.catalogue.rows import Row
from pixsearch.catalogue.state import DoneBatch, ImportState, StateMismatch
from pixsearch.operations.schemas import Operation

OPTIONS = ImportOptions().recorded()


def rows(n: int, title: str = "t") -> list[Row]:
    return [Row.of(i + 1, {"id": f"r{i}", "title": title}) for i in range(n)]


def test_batches_are_cut_by_rows_and_by_bytes_the_same_way_every_time() -> None:
    by_rows = list(plan_batches(rows(7), 3, 10**6))
    assert [len(batch.rows) for batch in by_rows] == [3, 3, 1]
    assert json.loads(by_rows[2].body) == [{"id": "r6", "title": "t"}]
    by_bytes = list(plan_batches(rows(7), 100, 60))  # each row is 24 bytes
    assert [len(batch.rows) for batch in by_bytes] == [2, 2, 2, 1]
    assert all(len(batch.body) <= 60 for batch in by_bytes)
    huge = [Row.of(1, {"id": "big", "title": "x" * 500}), *rows(1)]
    assert [len(b.rows) for b in plan_batches(huge, 100, 60)] == [1, 1]  # alone, not refused
    again = list(plan_batches(rows(7), 100, 60))
    assert [b.body for b in again] == [b.body for b in by_bytes]


def test_state_resumes_done_and_accepted_batches_and_ignores_a_torn_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.import-state"
    state = ImportState.open(path, "fp", OPTIONS)
    state.record_accepted(1, 11)
    state.record_done(0, DoneBatch(10, 2, [RowFailure("r1", 2, "boom")]))
    with path.open("a") as out:
        out.write('{"batch": 2, "op_i')  # killed mid-write
    resumed = ImportState.open(path, "fp", OPTIONS)
    assert resumed.run_id == state.run_id and resumed.key_of(3) == state.key_of(3)
    assert resumed.accepted == {0: 10, 1: 11}
    assert resumed.done == {0: DoneBatch(10, 2, [RowFailure("r1", 2, "boom")])}
    with pytest.raises(StateMismatch, match="remove it"):
        ImportState.open(path, "another source", OPTIONS)
    with pytest.raises(StateMismatch):
        ImportState.open(path, "fp", {**OPTIONS, "mode": "patch"})
    assert ImportState.open(tmp_path / "new", "fp", OPTIONS).run_id != state.run_id


def operation(errors: list[dict[str, object]], num_good: int) -> Operation:
    return Operation.model_validate(
        {
            "op_id": 1, "method": "add", "num_total": 3, "num_good": num_good,
            "num_bad": len(errors), "is_started": True, "is_finished": True, "all_good": False,
            "do_wait": True, "do_urgent": False, "do_strict": False, "idle_ms": 0,
            "exec_ms": 0, "created_at": "", "started_at": None, "finished_at": None,
            "errors": errors,
        }
    )  # fmt: skip


def test_failures_name_the_rows_and_under_all_or_nothing_the_rest_of_the_batch() -> None:
    (batch,) = plan_batches(
        [Row.of(5, {"id": 7}), Row.of(6, {"id": "b"}), Row.of(9, {"id": "c"})], 10, 10**6
    )
    failed = operation([{"id": 7, "msg": "HTTP 404 from host"}], num_good=0)
    assert failures_of(batch, failed, ImportOptions()) == [
        RowFailure(7, 5, "HTTP 404 from host"),
        RowFailure("b", 6, ALL_OR_NOTHING_MSG),
        RowFailure("c", 9, ALL_OR_NOTHING_MSG),
    ]
    partial = operation([{"id": "c", "msg": "HTTP 404 from host"}], num_good=2)
    assert failures_of(batch, partial, ImportOptions(subset=True)) == [
        RowFailure("c", 9, "HTTP 404 from host")
    ]
    cancelled = operation([{"id": None, "msg": "cancelled"}], num_good=0)
    assert [f.msg for f in failures_of(batch, cancelled, ImportOptions())] == ["cancelled"] * 3


def test_plain_progress_prints_a_line_every_interval(capsys: pytest.CaptureFixture[str]) -> None:
    progress = LineProgress(100, every_s=0)
    progress.sent(50)
    progress.finished(40, 2)
    lines = capsys.readouterr().err.splitlines()
    assert lines[-1].startswith("import: 42/100 rows done (sent 50, applied 40, failed 2)")
    quiet = LineProgress(100, every_s=3600)
    quiet.finished(1, 0)
    assert capsys.readouterr().err == ""


def test_the_bar_shows_sent_applied_and_failed_rows() -> None:
    import io

    from rich.console import Console

    from pixsearch.catalogue.progress import BarProgress

    screen = io.StringIO()
    bar = BarProgress(10, Console(file=screen, force_terminal=True, width=160))
    bar.sent(5)
    bar.finished(4, 1)
    bar.close()
    shown = screen.getvalue()
    assert "5/10" in shown and "sent 5 · applied 4 · failed 1" in shown and "rows/s" in shown
