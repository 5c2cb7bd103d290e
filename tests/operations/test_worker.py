"""The worker loop on both engines: claim, prepare (a real download), apply, tell waiters."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import sqlalchemy as sa

from pixsearch.background import build_worker
from pixsearch.config import Settings
from pixsearch.db.dialect import dialect_of
from pixsearch.db.engine import writer
from pixsearch.db.tables import images, operations
from pixsearch.operations import store
from pixsearch.operations.worker import MAX_ATTEMPTS, cancel_and_wait
from pixsearch.resources import open_resources
from pixsearch.vocabulary.operations import Method, Mode, NewItem
from tests.conftest import add_key


def queue(engine: sa.Engine, mode: Mode, items: list[NewItem]) -> int:
    with writer(engine).begin() as conn:
        return store.enqueue(
            conn, dialect_of(conn), org_id=1, method=Method.ADD, mode=mode, items=items
        )


async def test_the_worker_applies_a_queued_operation_and_wakes_its_waiter(
    settings: Settings, image_url: Callable[..., str]
) -> None:
    add_key(settings, "acme")
    async with open_resources(settings) as resources:
        body = {"src": image_url(1, 40, 30), "title": "one"}
        op_id = queue(resources.engine, Mode.ADD, [NewItem("a", "a", body)])
        task = asyncio.create_task(build_worker(resources).run())
        resources.wake_workers()
        try:
            finished = await resources.waiter.finished_operation(1, op_id, 20.0)
        finally:
            await cancel_and_wait([task], "test")
        with resources.engine.connect() as conn:
            row = conn.execute(sa.select(images.c.image_id, images.c.width)).one()
    assert finished is not None and finished["all_good"] is True and finished["num_good"] == 1
    assert tuple(row) == ("a", 40)


async def test_an_operation_that_keeps_crashing_its_worker_fails_instead(
    settings: Settings,
) -> None:
    add_key(settings, "acme")
    async with open_resources(settings) as resources:
        op_id = queue(resources.engine, Mode.PATCH, [NewItem("a", "a", {"title": "t"})])
        with writer(resources.engine).begin() as conn:  # as if it had crashed every time
            conn.execute(sa.update(operations).values(attempts=MAX_ATTEMPTS))
        task = asyncio.create_task(build_worker(resources).run())
        resources.wake_workers()
        try:
            finished = await resources.waiter.finished_operation(1, op_id, 20.0)
        finally:
            await cancel_and_wait([task], "test")
    assert finished is not None and finished["all_good"] is False
    assert "failed 3 times" in finished["errors"][0]["msg"]
