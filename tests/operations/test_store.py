"""The queue itself, on both engines: claim order, per-organisation exclusion, stale workers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from pixsearch.backend import open_backend
from pixsearch.db.dialect import dialect_of
from pixsearch.db.tables import images
from pixsearch.operations import store
from pixsearch.operations.apply import apply_operation
from pixsearch.vocabulary.operations import NewItem, Prepared


def enqueue(
    engine: sa.Engine, org_id: int, mode: str = "patch", urgent: bool = False, image_id: str = "x"
) -> int:
    with engine.begin() as conn:
        return store.enqueue(
            conn,
            dialect_of(conn),
            org_id=org_id,
            method="upd",
            mode=mode,
            urgent=urgent,
            items=[NewItem(image_id, image_id, {"title": "t"})],
        )


def claim(engine: sa.Engine, worker: str = "w1") -> store.Claimed | None:
    with engine.begin() as conn:
        return store.claim_next(conn, dialect_of(conn), worker)


def test_claims_urgent_first_then_in_order_one_per_organisation(engine: sa.Engine) -> None:
    first_a = enqueue(engine, 1)
    second_a = enqueue(engine, 1)
    urgent_a = enqueue(engine, 1, urgent=True)
    first_b = enqueue(engine, 2)
    claimed = claim(engine)
    assert claimed is not None and claimed.id == urgent_a
    other = claim(engine, "w2")
    assert other is not None and other.id == first_b  # organisation a is busy
    assert claim(engine, "w3") is None
    with engine.begin() as conn:
        assert store.finish(
            conn, dialect_of(conn), urgent_a, "w1", num_good=1, num_bad=0, errors=[]
        )
    assert [claim(engine).id] == [first_a]  # type: ignore[union-attr]
    assert second_a > first_a


def test_concurrent_claimers_never_take_two_operations_of_one_organisation(
    engine: sa.Engine,
) -> None:
    for _ in range(5):
        enqueue(engine, 1)
    with ThreadPoolExecutor(8) as pool:
        claimed = list(pool.map(lambda n: claim(engine, f"w{n}"), range(8)))
    assert len([op for op in claimed if op is not None]) == 1


def test_finish_refuses_an_operation_taken_from_a_stalled_worker(engine: sa.Engine) -> None:
    op_id = enqueue(engine, 1, mode="add", image_id="img")
    stalled = claim(engine, "stalled")
    assert stalled is not None
    with engine.begin() as conn:
        assert store.requeue_running(conn, stale_before=2**62) == 1
    fresh = claim(engine, "fresh")
    assert fresh is not None and fresh.id == op_id and fresh.attempts == 2
    values = {"width": 1, "height": 1, "aspect_ratio": 1.0, "orientation": "square"}
    items = [store.Item(0, "img", "img", {"src": "http://example.com/a.jpg"})]
    backend = open_backend(engine)
    with engine.begin() as conn:
        done = apply_operation(conn, backend, fresh, "fresh", items, [Prepared(values=values)])
        assert done.finished
    with engine.begin() as conn:
        late = apply_operation(conn, backend, stalled, "stalled", items, [Prepared(values=values)])
        assert not late.finished
        conn.rollback()  # what the worker does when its operation was taken away
    backend.close()
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(images)).scalar() == 1
        op = store.get_operation(conn, 1, op_id)
    assert op["num_good"] == 1 and op["is_finished"]


def test_cancel_only_while_queued(engine: sa.Engine) -> None:
    running = enqueue(engine, 1)
    queued = enqueue(engine, 1)
    claim(engine)
    with engine.begin() as conn:
        store.cancel(conn, dialect_of(conn), 1, queued)
    with engine.begin() as conn, pytest.raises(store.Conflict):
        store.cancel(conn, dialect_of(conn), 1, running)
    with engine.begin() as conn, pytest.raises(store.NotFound):
        store.cancel(conn, dialect_of(conn), 2, running)


def test_finish_and_cancel_notify_other_processes(engine: sa.Engine) -> None:
    """`wait=true` in an API process learns of a worker's finish through NOTIFY."""
    if engine.dialect.name != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    import psycopg

    from pixsearch.db.dialect import FINISHED_CHANNEL
    from pixsearch.operations.listener import libpq_dsn

    finished = enqueue(engine, 1)
    cancelled = enqueue(engine, 2)
    url = engine.url.render_as_string(hide_password=False)
    with psycopg.connect(libpq_dsn(url), autocommit=True) as listener:
        listener.execute(f"LISTEN {FINISHED_CHANNEL}")
        claimed = claim(engine)
        assert claimed is not None and claimed.id == finished
        with engine.begin() as conn:
            assert store.finish(
                conn, dialect_of(conn), finished, "w1", num_good=1, num_bad=0, errors=[]
            )
            store.cancel(conn, dialect_of(conn), 2, cancelled)
        payloads = [note.payload for note in listener.notifies(timeout=2, stop_after=2)]
    assert sorted(payloads) == sorted([str(finished), str(cancelled)])
