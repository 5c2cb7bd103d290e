"""Bounded concurrency that is fair between operations, and limits per key (host, address).

`FairShare` is a semaphore whose free slots go to the flow (an operation) that holds the
fewest, and which lets a flow that holds none in at once: a newcomer is never queued
behind another operation's thousands of items, whatever that operation holds. `KeyedSlots`
bounds what one key may hold, so that a slow host limits only itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, deque
from collections.abc import AsyncIterator, Hashable


class FairShare:
    """`capacity` slots shared fairly by flows.

    A flow that holds no slot gets one at once, even when all are taken (so the bound is
    `capacity` plus one per flow); otherwise a flow waits while the slots are taken, and a
    freed slot goes to the waiting flow that holds the fewest (the longest waiting first,
    among equals).
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.in_use = 0
        self.held: Counter[Hashable] = Counter()
        self.waiting: dict[Hashable, deque[asyncio.Future[None]]] = {}

    @contextlib.asynccontextmanager
    async def slot(self, flow: Hashable) -> AsyncIterator[None]:
        """Hold one slot for `flow`."""
        await self._acquire(flow)
        try:
            yield
        finally:
            self._release(flow)

    async def _acquire(self, flow: Hashable) -> None:
        if self.held[flow] == 0 or (self.in_use < self.capacity and not self.waiting):
            self._grant(flow)
            return
        future = asyncio.get_running_loop().create_future()
        self.waiting.setdefault(flow, deque()).append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._release(flow)  # granted as the cancellation came: give it on
            else:
                self._forget(flow, future)
            raise

    def _grant(self, flow: Hashable) -> None:
        self.held[flow] += 1
        self.in_use += 1

    def _release(self, flow: Hashable) -> None:
        self.held[flow] -= 1
        if self.held[flow] <= 0:
            del self.held[flow]
        self.in_use -= 1
        self._hand_over()

    def _hand_over(self) -> None:
        while self.waiting:
            flow = min(self.waiting, key=lambda each: self.held[each])
            if self.held[flow] > 0 and self.in_use >= self.capacity:
                return
            queue = self.waiting.pop(flow)
            future = queue.popleft()
            if queue:
                self.waiting[flow] = queue  # to the back: equals take turns
            if not future.cancelled():
                self._grant(flow)
                future.set_result(None)

    def _forget(self, flow: Hashable, future: asyncio.Future[None]) -> None:
        queue = self.waiting.get(flow)
        if queue is not None and future in queue:
            queue.remove(future)
            if not queue:
                del self.waiting[flow]


class KeyedSlots:
    """At most `per_key` holders per key; a key's semaphore is dropped when unused."""

    def __init__(self, per_key: int) -> None:
        self.per_key = per_key
        self.slots: dict[Hashable, tuple[asyncio.Semaphore, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        """Hold one of `key`'s slots."""
        semaphore, users = self.slots.get(key, (asyncio.Semaphore(self.per_key), 0))
        self.slots[key] = (semaphore, users + 1)
        try:
            async with semaphore:
                yield
        finally:
            semaphore, users = self.slots[key]
            if users == 1:
                del self.slots[key]
            else:
                self.slots[key] = (semaphore, users - 1)
