"""Progress of an import on standard error: a rich bar on a terminal, a plain line every
few seconds otherwise (logs, CI)."""

from __future__ import annotations

import sys
import time
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichBar
from rich.text import Text

LINE_EVERY_S = 5.0


class Progress(Protocol):
    def sent(self, rows: int) -> None: ...
    def finished(self, applied: int, failed: int) -> None: ...
    def close(self) -> None: ...


class RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"{task.speed or 0:,.0f} rows/s")


class BarProgress:
    """rich's progress bar: rows done of all, sent, applied, failed, rate, ETA."""

    def __init__(self, total: int, console: Console | None = None) -> None:
        self._bar = RichBar(
            TextColumn("importing"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("sent {task.fields[sent]:,} · applied {task.fields[applied]:,} · "
                       "failed {task.fields[failed]:,}"),
            RateColumn(),
            TimeRemainingColumn(),
            console=console or Console(stderr=True),
        )  # fmt: skip
        self._task = self._bar.add_task("import", total=total, sent=0, applied=0, failed=0)
        self._bar.start()
        self._sent = self._applied = self._failed = 0

    def sent(self, rows: int) -> None:
        self._sent += rows
        self._bar.update(self._task, sent=self._sent)

    def finished(self, applied: int, failed: int) -> None:
        self._applied += applied
        self._failed += failed
        self._bar.update(
            self._task, advance=applied + failed, applied=self._applied, failed=self._failed
        )

    def close(self) -> None:
        self._bar.stop()


class LineProgress:
    """A line every LINE_EVERY_S seconds, for output that is not a terminal."""

    def __init__(self, total: int, every_s: float = LINE_EVERY_S) -> None:
        self.total = total
        self.every_s = every_s
        self.started = time.monotonic()
        self._next = self.started + every_s
        self._sent = self._applied = self._failed = 0

    def sent(self, rows: int) -> None:
        self._sent += rows
        self._maybe_print()

    def finished(self, applied: int, failed: int) -> None:
        self._applied += applied
        self._failed += failed
        self._maybe_print()

    def close(self) -> None:
        pass

    def _maybe_print(self) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self.every_s
        done = self._applied + self._failed
        rate = done / max(now - self.started, 1e-9)
        eta = f"{(self.total - done) / rate:,.0f} s" if rate > 0 else "?"
        print(
            f"import: {done:,}/{self.total:,} rows done (sent {self._sent:,}, applied "
            f"{self._applied:,}, failed {self._failed:,}), {rate:,.0f} rows/s, ETA {eta}",
            file=sys.stderr,
            flush=True,
        )


def open_progress(total: int, bar: bool | None) -> Progress:
    """A bar on a terminal (or when asked), plain lines otherwise."""
    if bar is None:
        bar = sys.stderr.isatty()
    return BarProgress(total) if bar else LineProgress(total)
