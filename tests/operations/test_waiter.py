"""`wait=true`'s waiter on both engines: woken at once by a notification, by the shared
poll when another process finished the operation, and never by polling once per waiter."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa

from pixsearch.db.tables import operations
from pixsearch.operations.waiter import Waiter
from pixsearch.vocabulary.operations import State
from tests.operations.test_store import enqueue


def finish_elsewhere(engine: sa.Engine, op_id: int) -> None:
    """What a worker of another process does: the row changes, nobody here is told."""
    with engine.begin() as conn:
        conn.execute(
            sa.update(operations).where(operations.c.id == op_id).values(state=State.FINISHED)
        )


def count_statements(engine: sa.Engine) -> list[str]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM operations" in statement:
            seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    return seen


async def test_a_notification_wakes_the_waiter_at_once(engine: sa.Engine) -> None:
    op_id = enqueue(engine, 1)
    waiter = Waiter(engine, poll_s=30.0)  # no poll could answer within the test
    waiting = asyncio.create_task(waiter.wait(op_id, timeout_s=30.0))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    finish_elsewhere(engine, op_id)
    waiter.notify(op_id)
    assert await asyncio.wait_for(waiting, 5.0) is True


async def test_many_waiters_share_one_poll(engine: sa.Engine) -> None:
    """Fifty requests waiting for operations finished by another process: each is woken by
    the shared poll, which asks the database once per interval for all of them."""
    op_ids = [enqueue(engine, 1, image_id=f"x{n}") for n in range(50)]
    waiter = Waiter(engine, poll_s=0.1)
    seen = count_statements(engine)
    waiting = [asyncio.create_task(waiter.wait(op_id, timeout_s=30.0)) for op_id in op_ids]
    await asyncio.sleep(1.5)  # about 15 polling rounds with nothing finished
    assert not any(task.done() for task in waiting)
    polled_while_idle = len(seen) - len(op_ids)  # beyond each waiter's first look
    assert polled_while_idle <= 20, polled_while_idle  # one per round, not one per waiter
    for op_id in op_ids:
        finish_elsewhere(engine, op_id)
    assert await asyncio.wait_for(asyncio.gather(*waiting), 10.0) == [True] * len(op_ids)
    await asyncio.sleep(0.3)
    after = len(seen)
    await asyncio.sleep(0.5)
    assert len(seen) == after  # nobody waits: no more queries


async def test_a_wait_times_out_with_a_last_look(engine: sa.Engine) -> None:
    op_id = enqueue(engine, 1)
    waiter = Waiter(engine, poll_s=0.1)
    assert await waiter.wait(op_id, timeout_s=0.5) is False
    finish_elsewhere(engine, op_id)
    assert await waiter.wait(op_id, timeout_s=0.0) is True  # already finished: no waiting
