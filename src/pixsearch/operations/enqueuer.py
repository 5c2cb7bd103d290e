"""Group commit for enqueues: the requests of one turn of the event loop share one transaction.

Under load many requests enqueue at once; committing them together pays one BEGIN, one
write lock and one COMMIT for all of them. A request is answered only after the commit
that holds its operation, so an accepted write survives a crash of the process
(tests/e2e/test_write_durability.py).

A dedicated thread writes the groups that the event loop must not wait for: on PostgreSQL
all of them (a commit is a round trip to the server). It keeps one connection between
groups: checking one out of the pool and resetting it on return cost more Python than a
small group's inserts, and every line of Python here holds the GIL that the event loop
answering requests needs.

On SQLite the event loop writes a turn's group itself when it can. A commit there writes to
the WAL and syncs nothing (synchronous=NORMAL), some tens of microseconds a group, while
handing the group to the thread and being woken again cost the loop as much CPU as all of
FastAPI's work on the request (bench/writes.py). The loop only tries: while another
connection holds the write lock (a worker applying, another process) or the thread still
has groups to write, whose order must be kept, the group goes to the thread, which waits
for the lock without holding up the loop. The loop's connection never checkpoints the WAL
(a checkpoint syncs the database file); every CHECKPOINT_EVERY of its groups it asks the
thread to, and meanwhile hands its groups to the thread too.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from pixsearch.db.dialect import Dialect
from pixsearch.db.engine import on_driver, try_writer, writer
from pixsearch.monitoring.logs import current_context
from pixsearch.monitoring.metrics import Metrics
from pixsearch.operations.idempotency import Enqueued, enqueue_idempotent
from pixsearch.vocabulary.operations import NewOperation

log = logging.getLogger(__name__)
MAX_GROUP = 256  # operations per transaction at most
CHECKPOINT_EVERY = 256  # groups the loop writes between two checkpoints of the WAL


class _Checkpoint:
    """Asks the thread to checkpoint the WAL that the loop's commits leave."""


@dataclass
class _Pending:
    operation: NewOperation
    future: asyncio.Future[int]
    loop: asyncio.AbstractEventLoop
    org: str | None  # the organisation's name, for the per-organisation metrics


class Enqueuer:
    """Inserts operations in shared transactions, on the event loop or a dedicated thread."""

    def __init__(self, engine: sa.Engine, dialect: Dialect, metrics: Metrics | None = None) -> None:
        self.engine = writer(engine)
        self.dialect = dialect
        self.metrics = metrics
        self._queue: queue.SimpleQueue[list[_Pending] | _Checkpoint | None] = queue.SimpleQueue()
        # Per event loop, the requests of its current turn, not yet handed to the thread.
        self._turns: dict[asyncio.AbstractEventLoop, list[_Pending]] = {}
        self._conn: sa.Connection | None = None  # the thread's own, between groups
        self._loop_writer = _LoopWriter(engine) if dialect.commits_in_process else None
        self._handed = 0  # groups handed to the thread and not yet written, under:
        self._handed_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="pixsearch-enqueuer", daemon=True)
        self._thread.start()

    async def submit(self, operation: NewOperation) -> int:
        """Queue `operation`; its id once committed (or the id of the operation its
        idempotency key already names)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        context = current_context()
        self._hand_over(_Pending(operation, future, loop, context.org if context else None))
        op_id = await future
        if log.isEnabledFor(logging.INFO):
            log.info(
                "operation %d enqueued",
                op_id,
                extra={
                    "op_id": op_id,
                    "method": operation.method,
                    "mode": operation.mode,
                    "items": len(operation.items),
                    "urgent": operation.urgent,
                },
            )
        return op_id

    def _hand_over(self, pending: _Pending) -> None:
        """Add `pending` to its loop's turn; the first of a turn schedules the hand-over,
        which runs once the requests already under way have had their turn too."""
        turn = self._turns.get(pending.loop)
        if turn is None:
            turn = self._turns[pending.loop] = []
            pending.loop.call_soon(self._end_turn, pending.loop)
        turn.append(pending)

    def _end_turn(self, loop: asyncio.AbstractEventLoop) -> None:
        group = self._turns.pop(loop)
        writer = self._loop_writer
        if writer is not None and not self._handed:
            enqueued = writer.try_write(self.dialect, group)
            if enqueued is not None:
                self._count(group, enqueued)
                _settle(group, enqueued.answers)
                if writer.groups % CHECKPOINT_EVERY == 0:
                    self._to_thread(_Checkpoint())
                return
        self._to_thread(group)

    def _to_thread(self, work: list[_Pending] | _Checkpoint) -> None:
        """While the thread has work, the loop writes nothing: the thread's groups keep
        their place ahead of later ones, and its checkpoint has no commit running beside
        it (SQLite starts the WAL over only after a checkpoint that no commit overtook)."""
        with self._handed_lock:
            self._handed += 1
        self._queue.put(work)

    def _done(self, handed: int) -> None:
        with self._handed_lock:
            self._handed -= handed

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._drop_connection()
        if self._loop_writer is not None:
            self._loop_writer.close()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            if isinstance(first, _Checkpoint):
                self._checkpoint()
                self._done(1)
                continue
            group, handed = list(first), 1
            while len(group) < MAX_GROUP:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # finish this group, then stop
                    break
                if isinstance(more, _Checkpoint):
                    self._queue.put(more)  # after this group; still counted as handed
                    break
                group.extend(more)
                handed += 1
            for start in range(0, len(group), MAX_GROUP):
                self._write(group[start : start + MAX_GROUP])
            self._done(handed)

    def _checkpoint(self) -> None:
        """Outside any transaction (the driver's own autocommit): SQLAlchemy would begin
        one, and a checkpoint cannot copy past a reader, itself included."""
        try:
            on_driver(self._connection(), "PRAGMA wal_checkpoint(PASSIVE)")
        except Exception:
            log.exception("checkpoint of the WAL failed; the next one retries")
            self._drop_connection()

    def _connection(self) -> sa.Connection:
        if self._conn is None:
            self._conn = self.engine.connect()
        return self._conn

    def _drop_connection(self) -> None:
        """Give the connection back after an error (the next group takes a fresh one: a
        PostgreSQL restart, say, leaves this one dead) or at the end."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()

    def _write(self, group: list[_Pending], *, retry: bool = True) -> None:
        try:
            conn = self._connection()
            with conn.begin():
                operations = [pending.operation for pending in group]
                enqueued = enqueue_idempotent(conn, self.dialect, operations)
        except Exception as error:
            self._drop_connection()
            if len(group) > 1:
                # One bad write must not fail its neighbours: retry each on its own.
                for pending in group:
                    self._write([pending])
                return
            if retry and isinstance(error, sa.exc.IntegrityError):
                # Another process stored this idempotency key meanwhile: now we find it.
                self._write(group, retry=False)
                return
            _fail(group[0], error)
            return
        self._count(group, enqueued)
        _resolve_all(group, enqueued.answers)

    def _count(self, group: list[_Pending], enqueued: Enqueued) -> None:
        if self.metrics is not None:
            for index in enqueued.queued:  # not a repeated key's earlier operation
                pending = group[index]
                op = pending.operation
                self.metrics.count_enqueued(op.method, op.urgent, pending.org)


class _LoopWriter:
    """The event loop's own connection, which writes a group only if it need not wait."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = try_writer(engine)
        self.groups = 0  # written so far
        self._conn: sa.Connection | None = None
        self._lock = threading.Lock()  # one event loop at a time (tests run several)

    def try_write(self, dialect: Dialect, group: list[_Pending]) -> Enqueued | None:
        """Write `group` in one transaction; None, having written nothing, when the write
        lock is taken or the write fails (the thread then writes each on its own)."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            conn = self._connection()
            with conn.begin():
                enqueued = enqueue_idempotent(conn, dialect, [p.operation for p in group])
        except Exception:
            # WriteLockBusy, SQLite's "database is locked" (another process writes), or a
            # write that fails, which the thread tries again on its own to name the cause.
            if self._conn is not None and self._conn.invalidated:
                self.close()
            return None
        finally:
            self._lock.release()
        self.groups += 1
        return enqueued

    def _connection(self) -> sa.Connection:
        if self._conn is None:
            conn = self.engine.connect()
            conn.detach()  # the settings below must not go back to the pool with it
            on_driver(conn, "PRAGMA busy_timeout=0")  # refused at once, never waits
            on_driver(conn, "PRAGMA wal_autocheckpoint=0")  # the thread checkpoints
            self._conn = conn
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()


Outcome = int | Exception


def _settle(group: list[_Pending], outcomes: Sequence[Outcome]) -> None:
    """Settle, on their own event loop, the requests of a committed group."""
    for pending, outcome in zip(group, outcomes, strict=True):
        if pending.future.cancelled():
            continue
        if isinstance(outcome, Exception):
            pending.future.set_exception(outcome)
        else:
            pending.future.set_result(outcome)


def _resolve_all(group: list[_Pending], outcomes: Sequence[Outcome]) -> None:
    """Settle a committed group with one wake-up per event loop, not one per request."""
    by_loop: dict[asyncio.AbstractEventLoop, tuple[list[_Pending], list[Outcome]]] = {}
    for pending, outcome in zip(group, outcomes, strict=True):
        pendings, answers = by_loop.setdefault(pending.loop, ([], []))
        pendings.append(pending)
        answers.append(outcome)
    for loop, (pendings, answers) in by_loop.items():
        loop.call_soon_threadsafe(_settle, pendings, answers)


def _fail(pending: _Pending, error: Exception) -> None:
    """Settle one enqueue whose write failed with `error`."""
    pending.loop.call_soon_threadsafe(_settle, [pending], [error])
