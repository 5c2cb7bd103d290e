"""Let `wait=true` requests learn that their operation finished.

In one process the worker wakes waiters directly; across processes (PostgreSQL) a
notification channel or polling tells them. The database is the truth: each wait checks
it, so a notification that came before the wait, or from a worker in another process,
is never missed.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from anyio import to_thread

from pixsearch.operations import store


class Waiter:
    """Waiters keyed by operation id, woken by `notify`, with polling as the fallback."""

    def __init__(self, engine: sa.Engine, poll_s: float) -> None:
        self.engine = engine
        self.poll_s = poll_s
        self._events: dict[int, list[asyncio.Event]] = defaultdict(list)
        self._loop: asyncio.AbstractEventLoop | None = None

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
            self._events[op_id].append(event)
            if await to_thread.run_sync(self._is_finished, op_id):
                self._discard(op_id, event)
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                self._discard(op_id, event)
                return False
            try:
                await asyncio.wait_for(event.wait(), min(remaining, self.poll_s))
            except TimeoutError:
                self._discard(op_id, event)

    def _is_finished(self, op_id: int) -> bool:
        with self.engine.connect() as conn:
            return store.is_finished(conn, op_id)

    def _read(self, org_id: int, op_id: int) -> dict[str, Any]:
        with self.engine.connect() as conn:
            return store.get_operation(conn, org_id, op_id)

    def _discard(self, op_id: int, event: asyncio.Event) -> None:
        events = self._events.get(op_id)
        if events and event in events:
            events.remove(event)
            if not events:
                del self._events[op_id]
