"""The micro-batcher: concurrent callers share batches; results and errors reach each caller."""

from __future__ import annotations

import asyncio
import threading

import pytest

from pixsearch.runtimes.batcher import BatcherClosed, MicroBatcher


async def test_items_of_concurrent_callers_share_batches() -> None:
    batches: list[list[str]] = []
    threads: set[str] = set()

    def double(items: list[str]) -> list[str]:
        batches.append(list(items))
        threads.add(threading.current_thread().name)
        return [item * 2 for item in items]

    batcher: MicroBatcher[str, str] = MicroBatcher(double, max_batch=8, max_wait_ms=50)

    async def operation(prefix: str, n: int) -> list[str]:
        return await asyncio.gather(*(batcher.submit(f"{prefix}{i}") for i in range(n)))

    first, second = await asyncio.gather(operation("a", 10), operation("b", 10))
    assert first == [f"a{i}a{i}" for i in range(10)]
    assert second == [f"b{i}b{i}" for i in range(10)]
    assert sorted(len(batch) for batch in batches) == [4, 8, 8]
    assert any({item[0] for item in batch} == {"a", "b"} for batch in batches)
    assert len(threads) == 1 and threads.pop().startswith("batcher")
    assert list(batcher.sizes) == [len(batch) for batch in batches]
    await batcher.aclose()


async def test_lone_item_waits_at_most_max_wait() -> None:
    batcher: MicroBatcher[int, int] = MicroBatcher(lambda xs: xs, max_batch=64, max_wait_ms=30)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await batcher.submit(7) == 7
    assert loop.time() - started < 0.5
    await batcher.aclose()


async def test_a_failing_batch_fails_its_items_only() -> None:
    def picky(items: list[int]) -> list[int]:
        if 13 in items:
            raise ValueError("unlucky batch")
        return items

    batcher: MicroBatcher[int, int] = MicroBatcher(picky, max_batch=2, max_wait_ms=20)
    results = await asyncio.gather(
        *(batcher.submit(i) for i in (1, 13, 2, 3)), return_exceptions=True
    )
    assert isinstance(results[0], ValueError) and isinstance(results[1], ValueError)
    assert results[2:] == [2, 3]
    await batcher.aclose()
    with pytest.raises(BatcherClosed):
        await batcher.submit(1)
