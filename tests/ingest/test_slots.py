"""Fair slots between operations, and per-key limits."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable

import pytest

from pixsearch.ingest.slots import FairShare, KeyedSlots


class Holders:
    """Tasks that take a slot of `share` for a flow and hold it until told to let go."""

    def __init__(self, share: FairShare) -> None:
        self.share = share
        self.order: list[Hashable] = []  # flows, in the order they got their slot
        self.release: dict[int, asyncio.Event] = {}
        self.tasks: list[asyncio.Task[None]] = []

    def start(self, flow: Hashable) -> int:
        number = len(self.tasks)
        self.release[number] = asyncio.Event()
        self.tasks.append(asyncio.create_task(self._hold(flow, number)))
        return number

    async def _hold(self, flow: Hashable, number: int) -> None:
        async with self.share.slot(flow):
            self.order.append(flow)
            await self.release[number].wait()

    async def let_go(self, number: int) -> None:
        self.release[number].set()
        await asyncio.sleep(0.01)


async def test_a_newcomer_gets_a_slot_at_once_whatever_another_flow_holds() -> None:
    holders = Holders(FairShare(2))
    for _ in range(6):
        holders.start("big")
    await asyncio.sleep(0.01)
    assert holders.order == ["big", "big"]  # capacity reached, four wait
    holders.start("small")
    await asyncio.sleep(0.01)
    assert holders.order == ["big", "big", "small"]
    assert holders.share.in_use == 3  # beyond capacity by one: the newcomer's


async def test_a_freed_slot_goes_to_the_flow_that_holds_fewest() -> None:
    holders = Holders(FairShare(2))
    big = [holders.start("big") for _ in range(5)]
    await asyncio.sleep(0.01)
    small = [holders.start("small") for _ in range(3)]
    await asyncio.sleep(0.01)
    assert holders.order == ["big", "big", "small"]
    await holders.let_go(big[0])  # 3 in use of 2: nobody gets it
    assert holders.order == ["big", "big", "small"]
    await holders.let_go(big[1])  # big holds 0, small 1: big's turn
    assert holders.order[-1] == "big"
    await holders.let_go(small[0])  # big holds 1, small 0
    await holders.let_go(big[2])  # big holds 0, small 1
    assert holders.order[4:] == ["small", "big"]
    assert holders.share.in_use == 2
    for task in holders.tasks:
        task.cancel()


async def test_a_cancelled_waiter_leaves_no_slot_behind() -> None:
    share = FairShare(1)
    holders = Holders(share)
    first = holders.start("a")
    await asyncio.sleep(0.01)
    waiter = asyncio.create_task(_take(share, "a"))
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await holders.let_go(first)
    await holders.tasks[first]
    assert (share.in_use, dict(share.held), share.waiting) == (0, {}, {})


async def _take(share: FairShare, flow: Hashable) -> None:
    async with share.slot(flow):
        await asyncio.sleep(10)


async def test_keyed_slots_bound_each_key_alone() -> None:
    slots = KeyedSlots(1)
    async with slots.hold("slow.example"):
        async with asyncio.timeout(0.5):
            async with slots.hold("fast.example"):
                pass
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                async with slots.hold("slow.example"):
                    pass
    assert slots.slots == {}


async def test_flows_that_hold_as_many_take_turns() -> None:
    holders = Holders(FairShare(1))
    first = holders.start("x")
    await asyncio.sleep(0.01)
    holders.start("y")  # y holds none: in at once
    await asyncio.sleep(0.01)
    queued = [holders.start(flow) for flow in ("x", "x", "y", "y")]
    await asyncio.sleep(0.01)
    await holders.let_go(first)  # x holds 0, y 1 (2 in use of 1 -> 1): x
    await holders.let_go(1)  # x 1, y 0: y
    await holders.let_go(queued[0])  # x 0, y 1: x
    assert holders.order == ["x", "y", "x", "y", "x"]
    for task in holders.tasks:
        task.cancel()
