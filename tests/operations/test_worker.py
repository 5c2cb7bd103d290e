"""The worker loop on both engines: claim, prepare (a real download), apply, tell waiters;
and the reaper's view of a worker's presence (a dead session orphans its operations)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import psycopg
import pytest
import sqlalchemy as sa

from pixsearch.background import build_worker
from pixsearch.config import Settings
from pixsearch.db.dialect import dialect_of
from pixsearch.db.engine import writer
from pixsearch.db.tables import images, operations
from pixsearch.operations import store
from pixsearch.operations.presence import Presence
from pixsearch.operations.worker import MAX_FAILURES, cancel_and_wait, requeue_orphans
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


async def test_an_operation_that_keeps_failing_unexpectedly_fails_instead(
    settings: Settings,
) -> None:
    add_key(settings, "acme")
    async with open_resources(settings) as resources:
        op_id = queue(resources.engine, Mode.PATCH, [NewItem("a", "a", {"title": "t"})])
        with writer(resources.engine).begin() as conn:  # as if it had raised every time
            conn.execute(sa.update(operations).values(failures=MAX_FAILURES))
        task = asyncio.create_task(build_worker(resources).run())
        resources.wake_workers()
        try:
            finished = await resources.waiter.finished_operation(1, op_id, 20.0)
        finally:
            await cancel_and_wait([task], "test")
    assert finished is not None and finished["all_good"] is False
    assert "failed 3 times" in finished["errors"][0]["msg"]


def enqueue_and_claim(engine: sa.Engine, org_id: int, worker: str, pid: int | None) -> int:
    with engine.begin() as conn:
        dialect = dialect_of(conn)
        op_id = store.enqueue(
            conn, dialect, org_id=org_id, method="upd", mode="patch",
            items=[NewItem("x", "x", {"title": "t"})],
        )  # fmt: skip
    with engine.begin() as conn:
        claimed = store.claim_next(conn, dialect_of(conn), worker, session_pid=pid)
    assert claimed is not None and claimed.id == op_id
    return op_id


def test_the_operations_of_a_closed_presence_session_are_requeued_at_once(
    engine: sa.Engine,
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("presence sessions are PostgreSQL's; SQLite recovers at start")
    url = engine.url.render_as_string(hide_password=False)
    alive, dead = Presence(url), Presence(url)
    assert alive.check() is not None and dead.check() is not None
    kept = enqueue_and_claim(engine, 1, "alive", alive.pid)
    orphan = enqueue_and_claim(engine, 2, "dead", dead.pid)
    dead.close()  # what kill -9 does to its connection
    deadline = time.monotonic() + 5
    requeued: list[int] = []
    while not requeued and time.monotonic() < deadline:  # the server ends it at once
        requeued = requeue_orphans(engine, dialect_of(engine), 600, 5).requeued
    assert requeued == [orphan]
    with engine.connect() as conn:
        states = dict(conn.execute(sa.text("SELECT id, state FROM operations")).all())
    assert states == {kept: "running", orphan: "queued"}
    alive.close()


def test_a_lost_presence_session_is_opened_again(engine: sa.Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("presence sessions are PostgreSQL's")
    presence = Presence(engine.url.render_as_string(hide_password=False))
    first = presence.check()
    with psycopg.connect(presence.dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (first,))
    second = presence.check()
    assert second is not None and second != first
    presence.close()
