"""Micro-batching: single items submitted by many coroutines become batches for one model.

Every image of every concurrent operation calls `submit`; one runner task per batcher
takes up to `max_batch` waiting items (or fewer, once the oldest has waited
`max_wait_ms`) and runs the batch function in the batcher's own thread. Batches run one at
a time, so inference is serial per model while the next batch fills behind it, and the
encoder never waits for a free thread in a pool shared with decoding.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from numpy.typing import NDArray

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")
BatchObserver = Callable[[int, float], None]  # (batch size, seconds): told after each batch


class BatcherClosed(RuntimeError):
    """`submit` after `aclose`."""


@dataclass
class _Job(Generic[T, R]):
    item: T
    future: asyncio.Future[R]
    arrived: float


class MicroBatcher(Generic[T, R]):
    """Collect concurrent `submit` calls into batches of `fn`, one batch at a time."""

    def __init__(
        self,
        fn: Callable[[list[T]], Sequence[R] | NDArray[Any]],  # an array: one result per row
        max_batch: int,
        max_wait_ms: float,
        on_batch: BatchObserver | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.fn = fn
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self.on_batch = on_batch
        self.sizes: deque[int] = deque(maxlen=1024)  # recent batch sizes, for tests and benches
        self._pending: deque[_Job[T, R]] = deque()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="batcher")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._arrived = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._closed = False

    async def submit(self, item: T) -> R:
        """Queue `item` for the next batch and return its result (or raise the batch's error)."""
        if self._closed:
            raise BatcherClosed("the batcher is closed")
        loop = self._start()
        job: _Job[T, R] = _Job(item, loop.create_future(), loop.time())
        self._pending.append(job)
        self._arrived.set()
        return await job.future

    async def aclose(self) -> None:
        """Finish the items already submitted, then stop the runner and its thread."""
        self._closed = True
        self._arrived.set()
        if self._runner is not None and self._loop is asyncio.get_running_loop():
            await self._runner
        self._executor.shutdown(wait=False)

    def _start(self) -> asyncio.AbstractEventLoop:
        """The runner task of the current event loop, started on first use."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._runner is None or self._runner.done():
            if self._loop is not loop:
                # A new event loop (e.g. a new test): jobs of the old one can never finish.
                self._pending.clear()
                self._arrived = asyncio.Event()
            self._loop = loop
            self._runner = loop.create_task(self._run(), name="micro-batcher")
        return loop

    async def _run(self) -> None:
        try:
            while await self._wait_for_batch():
                batch = self._take_batch()
                if batch:
                    await self._run_batch(batch)
        finally:
            self._fail_pending(BatcherClosed("the batcher stopped"))

    async def _wait_for_batch(self) -> bool:
        """Wait until a batch is full or its oldest item waited long enough; False: closed."""
        loop = asyncio.get_running_loop()
        while not self._pending:
            if self._closed:
                return False
            self._arrived.clear()
            await self._arrived.wait()
        while len(self._pending) < self.max_batch and not self._closed:
            remaining = self._pending[0].arrived + self.max_wait - loop.time()
            if remaining <= 0:
                break
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                break
        return True

    def _take_batch(self) -> list[_Job[T, R]]:
        batch: list[_Job[T, R]] = []
        while self._pending and len(batch) < self.max_batch:
            job = self._pending.popleft()
            if not job.future.done():  # its caller may have been cancelled meanwhile
                batch.append(job)
        return batch

    async def _run_batch(self, batch: list[_Job[T, R]]) -> None:
        loop = asyncio.get_running_loop()
        items = [job.item for job in batch]
        self.sizes.append(len(items))
        started = time.perf_counter()
        try:
            results = await loop.run_in_executor(self._executor, self.fn, items)
            if self.on_batch is not None:
                self.on_batch(len(items), time.perf_counter() - started)
            if len(results) != len(items):
                raise RuntimeError(
                    f"batch function returned {len(results)} results for {len(items)} items"
                )
        except asyncio.CancelledError:
            _fail(batch, BatcherClosed("the batcher was cancelled during this batch"))
            raise
        except Exception as error:
            log.debug("batch of %d failed: %s", len(items), error)
            _fail(batch, error)
            return
        for job, result in zip(batch, results, strict=True):
            if not job.future.done():
                job.future.set_result(result)

    def _fail_pending(self, error: Exception) -> None:
        _fail(list(self._pending), error)
        self._pending.clear()


def _fail(jobs: list[_Job[T, R]], error: Exception) -> None:
    """Make every unfinished job of `jobs` raise `error`."""
    for job in jobs:
        if not job.future.done():
            job.future.set_exception(error)
