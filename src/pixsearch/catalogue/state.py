"""The state file of an import: what each batch became, so a re-run continues.

JSON Lines, appended and flushed to disk after each event, so a kill -9 loses at most a
half-written last line (ignored on reading). The first line names the run (its id is
part of every batch's idempotency key), the source's fingerprint and the options; the
next lines are `{"batch", "op_id"}` once a batch's operation is known and
`{"batch", "op_id", "done": true, "applied", "failures"}` once it has finished.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pixsearch.catalogue.check import RowFailure

VERSION = 1


class StateMismatch(Exception):
    """The state file belongs to another source or other options."""


@dataclass(frozen=True)
class DoneBatch:
    op_id: int
    applied: int
    failures: list[RowFailure]


@dataclass
class ImportState:
    path: Path | None  # None: nothing is remembered (standard input without --state)
    run_id: str
    accepted: dict[int, int] = field(default_factory=dict)  # batch -> operation id
    done: dict[int, DoneBatch] = field(default_factory=dict)

    @classmethod
    def open(cls, path: Path | None, fingerprint: str, options: dict[str, Any]) -> ImportState:
        """The state of this source and options: resumed from `path`, or a new run."""
        if path is None:
            return cls(None, uuid.uuid4().hex)
        if path.exists() and path.stat().st_size > 0:
            return cls._resume(path, fingerprint, options)
        state = cls(path, uuid.uuid4().hex)
        header = {"version": VERSION, "run_id": state.run_id, "fingerprint": fingerprint}
        state._append({**header, "options": options})
        return state

    @classmethod
    def _resume(cls, path: Path, fingerprint: str, options: dict[str, Any]) -> ImportState:
        events = read_events(path)
        header = events[0] if events else {}
        if header.get("fingerprint") != fingerprint or header.get("options") != options:
            raise StateMismatch(
                f"{path} is the state of another source or other options "
                f"({header.get('options')}); remove it to start a new import"
            )
        state = cls(path, str(header["run_id"]))
        for event in events[1:]:
            batch, op_id = int(event["batch"]), int(event["op_id"])
            state.accepted[batch] = op_id
            if event.get("done"):
                failures = [RowFailure(**failure) for failure in event["failures"]]
                state.done[batch] = DoneBatch(op_id, int(event["applied"]), failures)
        return state

    def key_of(self, batch: int) -> str:
        """The batch's Idempotency-Key: the same on every try of this run."""
        return f"pixsearch-import/{self.run_id}/{batch}"

    def record_accepted(self, batch: int, op_id: int) -> None:
        if self.accepted.get(batch) != op_id:
            self.accepted[batch] = op_id
            self._append({"batch": batch, "op_id": op_id})

    def record_done(self, batch: int, done: DoneBatch) -> None:
        self.accepted[batch] = done.op_id
        self.done[batch] = done
        failures = [failure.as_json() for failure in done.failures]
        self._append(
            {
                "batch": batch,
                "op_id": done.op_id,
                "done": True,
                "applied": done.applied,
                "failures": failures,
            }
        )

    def _append(self, event: dict[str, Any]) -> None:
        if self.path is None:
            return
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(event, ensure_ascii=False) + "\n")
            out.flush()
            os.fsync(out.fileno())


def read_events(path: Path) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            break  # the half-written last line of a killed run
    return events
