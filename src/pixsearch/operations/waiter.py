"""Let `wait=true` requests learn that their operation finished.

In one process the worker wakes waiters directly; across processes (PostgreSQL) a
notification channel or polling tells them.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable


class Waiter:
    """Waiters keyed by operation id, woken by `notify`, with polling as the fallback."""

    def __init__(self, poll_s: float) -> None:
        self.poll_s = poll_s
        self._events: dict[int, list[asyncio.Event]] = defaultdict(list)

    def notify(self, op_id: int) -> None:
        for event in self._events.pop(op_id, ()):
            event.set()

    async def wait(
        self, op_id: int, timeout_s: float, is_finished: Callable[[int], object]
    ) -> bool:
        """True once op `op_id` is finished, False after `timeout_s`.

        `is_finished` is an async callable that checks the database; it covers
        notifications that came before we listened and workers in other processes.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            event = asyncio.Event()
            self._events[op_id].append(event)
            if await is_finished(op_id):  # type: ignore[misc]
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

    def _discard(self, op_id: int, event: asyncio.Event) -> None:
        events = self._events.get(op_id)
        if events and event in events:
            events.remove(event)
            if not events:
                del self._events[op_id]
