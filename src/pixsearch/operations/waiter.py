"""Let `wait=true` requests learn that their operation finished.

In one process the worker wakes waiters directly; across processes (PostgreSQL) a
notification channel tells them, and polling catches what no notification reported (a
worker of another process without LISTEN, a lost notification). The database is the
truth: each wait checks it when it starts and whenever it is woken, so a notification that
came before the wait, or a wake-up for nothing, is harmless.

Polling is one query per interval for all the operations being waited for, by one task
that runs while anyone waits, so a thousand waiting requests cost what one does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from anyio import to_thread

from pixsearch.db.bulk import chunked
from pixsearch.operations import store

log = logging.getLogger(__name__)


class Waiter:
    """Waiters keyed by operation id, woken by `notify` or by the shared poll."""

    def __init__(self, engine: sa.Engine, poll_s: float) -> None:
        self.engine = engine
        self.poll_s = poll_s
        self._events: dict[int, set[asyncio.Event]] = defaultdict(set)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._poller: asyncio.Task[None] | None = None

    def notify(self, op_id: int) -> None:
        """Wake the waiters of `op_id` (call on the event loop)."""
        for event in self._events.pop(op_id, ()):
            event.set()

    def notify_threadsafe(self, op_id: int) -> None:
        """`notify`, from a thread other than the event loop's."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.notify, op_id)

    async def finished_operation(
        self, org_id: int, op_id: int, timeout_s: float
    ) -> dict[str, Any] | None:
        """The operation once it has finished, or None after `timeout_s`."""
        if not await self.wait(op_id, timeout_s):
            return None
        return await to_thread.run_sync(self._read, org_id, op_id)

    async def wait(self, op_id: int, timeout_s: float) -> bool:
        """True once op `op_id` is finished, False after `timeout_s`."""
        loop = self._loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            event = asyncio.Event()
            self._events[op_id].add(event)  # before the check: a notify now is not lost
            self._start_polling(loop)
            try:
                if await to_thread.run_sync(self._is_finished, op_id):
                    return True
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return False
                with contextlib.suppress(TimeoutError):  # one last look, then False
                    await asyncio.wait_for(event.wait(), remaining)
            finally:
                self._discard(op_id, event)

    def _start_polling(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._poller is None or self._poller.done():
            self._poller = loop.create_task(self._poll())

    async def _poll(self) -> None:
        """While anyone waits: every `poll_s`, wake the waiters of finished operations."""
        while self._events:
            await asyncio.sleep(self.poll_s)
            waited = list(self._events)
            if not waited:
                break
            try:
                finished = await to_thread.run_sync(self._finished_among, waited)
            except sa.exc.SQLAlchemyError as error:  # the next round tries again
                log.warning("polling for finished operations failed: %s", error)
                continue
            for op_id in finished:
                self.notify(op_id)

    def _is_finished(self, op_id: int) -> bool:
        with self.engine.connect() as conn:
            return store.is_finished(conn, op_id)

    def _finished_among(self, op_ids: list[int]) -> list[int]:
        with self.engine.connect() as conn:
            return [op_id for part in chunked(op_ids) for op_id in store.finished_among(conn, part)]

    def _read(self, org_id: int, op_id: int) -> dict[str, Any]:
        with self.engine.connect() as conn:
            return store.get_operation(conn, org_id, op_id)

    def _discard(self, op_id: int, event: asyncio.Event) -> None:
        events = self._events.get(op_id)
        if events is not None:
            events.discard(event)
            if not events:
                del self._events[op_id]
        if not self._events and self._poller is not None:
            self._poller.cancel()  # nobody waits: no query until someone does
            self._poller = None
