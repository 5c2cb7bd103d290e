"""The worker: claim an operation, prepare it, apply it, tell whoever waits. Repeat.

The same loop runs inside `pixsearch serve` and as `pixsearch worker`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from anyio import to_thread

from pixsearch.backend import Backend
from pixsearch.celebs.service import apply_celebs
from pixsearch.config import Settings
from pixsearch.db.clock import now_ms
from pixsearch.db.dialect import Dialect
from pixsearch.db.engine import writer
from pixsearch.db.tables import operations
from pixsearch.images.service import load_existing
from pixsearch.ingest.pipeline import CaptionEncoder, Pipeline
from pixsearch.monitoring.logs import CURRENT, LogContext
from pixsearch.monitoring.metrics import Metrics
from pixsearch.operations import store
from pixsearch.operations.apply import apply_operation
from pixsearch.operations.prepare import PREPARE_COLUMNS, prepare_items
from pixsearch.operations.presence import Presence
from pixsearch.vocabulary.operations import CELEB_MODES, Applied, Claimed, Item, Prepared
from pixsearch.vocabulary.rows import ImageRow

log = logging.getLogger(__name__)

MAX_FAILURES = 3  # an operation that raises unexpectedly this often fails instead of looping
PRESENCE_CHECK_S = 5.0  # how often a worker makes sure its presence session is still open
OnApplied = Callable[[Applied], None]


class Worker:
    """Runs up to `concurrency` operations at once, of different organisations."""

    def __init__(
        self,
        engine: sa.Engine,
        backend: Backend,
        settings: Settings,
        pipeline: Pipeline,
        *,
        captions: CaptionEncoder | None = None,
        concurrency: int = 4,
        on_applied: Sequence[OnApplied] = (),
        on_finished: Callable[[int], None] | None = None,
        wake: asyncio.Event | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.engine = engine
        self.writer = writer(engine)
        self.backend = backend
        self.settings = settings
        self.pipeline = pipeline
        self.captions = captions
        self.concurrency = concurrency
        self.on_applied = list(on_applied)
        self.on_finished = on_finished
        self.metrics = metrics
        self.name = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._wake = wake if wake is not None else asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()
        self._alone: asyncio.Task[None] | None = None  # an isolated operation's task
        self.presence = (
            None
            if backend.dialect.single_process
            else Presence(engine.url.render_as_string(hide_password=False))
        )

    def wake(self) -> None:
        """Look for work now (a new operation was enqueued in this process)."""
        self._wake.set()

    async def run(self) -> None:
        """Claim and run operations until cancelled."""
        watch = None
        if self.presence is not None:
            await to_thread.run_sync(self.presence.check)
            watch = asyncio.create_task(self._watch_presence(self.presence))
        try:
            while True:
                await self._claim_while_free()
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.worker_poll_s)
        finally:
            await cancel_and_wait(self._running, "operation")
            if watch is not None:
                watch.cancel()
            if self.presence is not None:
                self.presence.close()

    async def _claim_while_free(self) -> None:
        """Start operations while there is room. An isolated operation (one that was
        running when its process died) runs alone, so that a death has one suspect."""
        while len(self._running) < self.concurrency and self._alone is None:
            op = await to_thread.run_sync(self._claim, bool(self._running))
            if op is None:
                return
            task = asyncio.create_task(self._run_one(op))
            self._running.add(task)
            task.add_done_callback(self._done)
            if op.isolated:
                self._alone = task

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        if task is self._alone:
            self._alone = None
        self._wake.set()  # a slot is free, and that organisation may have more queued

    def _claim(self, busy: bool) -> Claimed | None:
        session_pid = self.presence.pid if self.presence is not None else None
        with self.writer.begin() as conn:
            return store.claim_next(
                conn, self.backend.dialect, self.name, session_pid=session_pid, busy=busy
            )

    async def _watch_presence(self, presence: Presence) -> None:
        while True:
            await asyncio.sleep(PRESENCE_CHECK_S)
            await to_thread.run_sync(presence.check)

    async def _run_one(self, op: Claimed) -> None:
        # This task's own context: its log lines name the operation and its organisation.
        CURRENT.set(LogContext(op_id=op.id, org=op.org))
        beat = asyncio.create_task(self._heartbeat(op.id))
        try:
            if op.failures >= MAX_FAILURES:
                await to_thread.run_sync(self._give_up, op)
            else:
                await self._process(op)
        except asyncio.CancelledError:
            # The process is stopping: hand the operation back now rather than leave it to
            # the stale-operation reaper (nothing was applied; apply is one transaction).
            self._hand_back(op)
            raise
        except Exception:
            # Nothing was applied (apply is one transaction): run it again from scratch.
            log.exception("operation %s failed unexpectedly; it will be retried", op.id)
            await to_thread.run_sync(self._requeue, op)
        finally:
            beat.cancel()
        if self.on_finished is not None:
            self.on_finished(op.id)

    async def _process(self, op: Claimed) -> None:
        items, existing = await to_thread.run_sync(self._load, op)
        log.info(
            "operation %d started",
            op.id,
            extra={
                "method": op.method,
                "mode": op.mode,
                "items": len(items),
                "attempt": op.attempts,
                "idle_ms": op.started_at - op.created_at,
            },
        )
        prepared: list[Prepared] = []  # celebs operations read only the database
        if op.mode not in CELEB_MODES:
            prepared = await prepare_items(op, items, existing, self.pipeline, self.captions)
        started = time.perf_counter()
        applied = await to_thread.run_sync(self._apply, op, items, prepared)
        self.pipeline.timings.add("apply", started)
        if applied.finished:
            for callback in self.on_applied:
                callback(applied)
            self._report(op, applied)

    def _report(self, op: Claimed, applied: Applied) -> None:
        """Log and count a finished operation and each of its failed items."""
        exec_ms = now_ms() - op.started_at
        idle_ms = op.started_at - op.created_at
        for failure in applied.failures:
            log.info(
                "item %s failed: %s",
                failure.raw_id,
                failure.msg,
                extra={"image_id": failure.raw_id, "cause": failure.cause},
            )
        log.info(
            "operation %d finished",
            op.id,
            extra={
                "method": op.method,
                "mode": op.mode,
                **applied.outcomes,
                "all_good": not applied.failures,
                "idle_ms": idle_ms,
                "exec_ms": exec_ms,
            },
        )
        if self.metrics is not None:
            good = not applied.failures
            self.metrics.count_finished(op.method, good, op.org, idle_ms / 1000, exec_ms / 1000)
            self.metrics.count_items(op.method, op.org, applied.outcomes)
            for failure in applied.failures:
                self.metrics.count_failure(failure.cause)

    def _load(self, op: Claimed) -> tuple[list[Item], dict[str, ImageRow]]:
        with self.engine.connect() as conn:
            items = store.load_items(conn, op.id)
            ids = [item.image_id for item in items]
            return items, load_existing(conn, op.org_id, ids, PREPARE_COLUMNS)

    def _apply(self, op: Claimed, items: list[Item], prepared: list[Prepared]) -> Applied:
        with self.writer.begin() as conn:
            if op.mode in CELEB_MODES:
                applied = apply_celebs(conn, self.backend.dialect, op, self.name, items)
            else:
                applied = apply_operation(conn, self.backend, op, self.name, items, prepared)
            if not applied.finished:
                conn.rollback()  # the operation was taken from us (stale); write nothing
            return applied

    def _hand_back(self, op: Claimed) -> None:
        try:
            with self.writer.begin() as conn:
                if store.release(conn, op.id, self.name, failed=False):
                    log.info("operation %s handed back to the queue (stopping)", op.id)
        except Exception:
            log.exception("could not hand back operation %s; the reaper will", op.id)

    def _requeue(self, op: Claimed) -> None:
        with self.writer.begin() as conn:
            store.release(conn, op.id, self.name)

    def _give_up(self, op: Claimed) -> None:
        msg = f"internal error: the operation failed {MAX_FAILURES} times; nothing was applied"
        with self.writer.begin() as conn:
            finished = store.finish(
                conn,
                self.backend.dialect,
                op.id,
                self.name,
                num_good=0,
                num_bad=0,
                errors=[{"id": None, "msg": msg}],
            )
        if finished:
            log.error("operation %d finished: %s", op.id, msg, extra={"method": op.method})
            if self.metrics is not None:
                idle_s = (op.started_at - op.created_at) / 1000
                exec_s = (now_ms() - op.started_at) / 1000
                self.metrics.count_finished(op.method, False, op.org, idle_s, exec_s)

    async def _heartbeat(self, op_id: int) -> None:
        # A quarter of the stale limit, whatever it is: a floor here would get live
        # workers reaped whenever the limit is set below four times that floor.
        interval = self.settings.worker_stale_s / 4
        while True:
            await asyncio.sleep(interval)
            await to_thread.run_sync(self._beat, op_id)

    def _beat(self, op_id: int) -> None:
        with self.writer.begin() as conn:
            store.heartbeat(conn, op_id, self.name)


SHUTDOWN_WAIT_S = 10.0  # how long stopping waits for cancelled tasks before going on


async def cancel_and_wait(
    tasks: set[asyncio.Task[Any]] | list[asyncio.Task[Any]], what: str
) -> None:
    """Cancel `tasks` and wait for them, but never forever: a task that ignores its
    cancellation is logged with its stack, and stopping goes on (nothing is lost: an
    operation that did not finish is queued again at the next start)."""
    tasks = list(tasks)
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    done, pending = await asyncio.wait(tasks, timeout=SHUTDOWN_WAIT_S)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            log.error("%s task failed while stopping", what, exc_info=task.exception())
    for task in pending:
        log.error("%s task did not stop within %g s: %s", what, SHUTDOWN_WAIT_S, task)
        task.print_stack()


def recover(engine: sa.Engine, dialect: Dialect, max_crashes: int) -> store.Requeued:
    """At start of a single-process deployment: every running operation was this
    process's predecessor's, which died; each runs again, alone."""
    with writer(engine).begin() as conn:
        return store.requeue_orphans(conn, dialect, sa.true(), max_crashes=max_crashes)


def requeue_orphans(
    engine: sa.Engine, dialect: Dialect, stale_s: float, max_crashes: int
) -> store.Requeued:
    """Put back the operations of workers that died (their presence session ended) or
    stopped sending heartbeats; one reaper at a time, so a death is blamed only once."""
    stale_before = now_ms() - int(stale_s * 1000)
    orphaned = sa.or_(
        dialect.worker_gone(operations.c.worker_backend),
        operations.c.heartbeat_at < stale_before,
    )
    with writer(engine).begin() as conn:
        if not dialect.try_lock_reaper(conn):
            return store.Requeued()
        return store.requeue_orphans(conn, dialect, orphaned, max_crashes=max_crashes)
