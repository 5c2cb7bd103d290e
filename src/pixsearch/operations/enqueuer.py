"""Group commit for enqueues: one thread writes every pending operation in one transaction.

Under load many requests enqueue at once; committing them together pays one BEGIN, one
write lock and one COMMIT for all of them, and spares each request a thread-pool hop. The
requests of one turn of the event loop reach the thread as one list: one wake-up of the
thread per turn, not per request. A
request is answered only after the commit that holds its operation, so an accepted write
survives a crash of the process (tests/e2e/test_write_durability.py). The thread keeps
one connection between groups: checking one out of the pool and resetting it on return
cost more Python than a small group's inserts, and every line of Python here holds the
GIL that the event loop answering requests needs.
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
from pixsearch.db.engine import writer
from pixsearch.monitoring.logs import current_context
from pixsearch.monitoring.metrics import Metrics
from pixsearch.operations.idempotency import enqueue_idempotent
from pixsearch.vocabulary.operations import NewOperation

log = logging.getLogger(__name__)
MAX_GROUP = 256  # operations per transaction at most


@dataclass
class _Pending:
    operation: NewOperation
    future: asyncio.Future[int]
    loop: asyncio.AbstractEventLoop
    org: str | None  # the organisation's name, for the per-organisation metrics


class Enqueuer:
    """Inserts operations in shared transactions on a dedicated thread."""

    def __init__(self, engine: sa.Engine, dialect: Dialect, metrics: Metrics | None = None) -> None:
        self.engine = writer(engine)
        self.dialect = dialect
        self.metrics = metrics
        self._queue: queue.SimpleQueue[list[_Pending] | None] = queue.SimpleQueue()
        # Per event loop, the requests of its current turn, not yet handed to the thread.
        self._turns: dict[asyncio.AbstractEventLoop, list[_Pending]] = {}
        self._conn: sa.Connection | None = None  # the thread's own, between groups
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
        self._queue.put(self._turns.pop(loop))

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._drop_connection()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = list(first)
            while len(group) < MAX_GROUP:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # finish this group, then stop
                    break
                group.extend(more)
            for start in range(0, len(group), MAX_GROUP):
                self._write(group[start : start + MAX_GROUP])

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
        if self.metrics is not None:
            for index in enqueued.queued:  # not a repeated key's earlier operation
                pending = group[index]
                op = pending.operation
                self.metrics.count_enqueued(op.method, op.urgent, pending.org)
        _resolve_all(group, enqueued.answers)


Outcome = int | Exception


def _resolve_all(group: list[_Pending], outcomes: Sequence[Outcome]) -> None:
    """Settle a committed group with one wake-up per event loop, not one per request."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Pending, Outcome]]] = {}
    for pending, outcome in zip(group, outcomes, strict=True):
        by_loop.setdefault(pending.loop, []).append((pending, outcome))
    for loop, settled in by_loop.items():

        def settle(settled: list[tuple[_Pending, Outcome]] = settled) -> None:
            for pending, outcome in settled:
                if pending.future.cancelled():
                    continue
                if isinstance(outcome, Exception):
                    pending.future.set_exception(outcome)
                else:
                    pending.future.set_result(outcome)

        loop.call_soon_threadsafe(settle)


def _fail(pending: _Pending, error: BaseException) -> None:
    """Settle one enqueue whose write failed with `error`."""

    def settle() -> None:
        if not pending.future.cancelled():
            pending.future.set_exception(error)

    pending.loop.call_soon_threadsafe(settle)
