"""Housekeeping on both engines: retention of finished operations; SQLite statistics."""

from __future__ import annotations

import sqlalchemy as sa

from pixsearch.db.dialect import dialect_of
from pixsearch.db.tables import idempotency_keys, operations
from pixsearch.operations import store
from pixsearch.operations.housekeeping import optimize, purge_old
from tests.operations.test_store import claim, enqueue

DAY_MS = 86_400_000


def test_purge_removes_only_finished_operations_past_retention(engine: sa.Engine) -> None:
    old, recent, queued = enqueue(engine, 1), enqueue(engine, 2), enqueue(engine, 1)
    for op_id, worker in ((old, "w1"), (recent, "w2")):
        claimed = claim(engine, worker)
        assert claimed is not None and claimed.id == op_id
        with engine.begin() as conn:
            store.finish(conn, dialect_of(conn), op_id, worker, num_good=1, num_bad=0, errors=[])
    with engine.begin() as conn:
        finished_at = conn.execute(
            sa.select(operations.c.finished_at).where(operations.c.id == old)
        ).scalar_one()
        conn.execute(
            sa.update(operations)
            .where(operations.c.id == old)
            .values(finished_at=finished_at - 2 * DAY_MS)
        )
    assert purge_old(engine, retention_days=1.0) == 1
    with engine.begin() as conn:
        left = set(conn.execute(sa.select(operations.c.id)).scalars())
    assert left == {recent, queued}


def test_optimize_gives_sqlite_planner_statistics(engine: sa.Engine) -> None:
    for _ in range(3):
        enqueue(engine, 1)  # ANALYZE leaves empty tables out
    optimize(engine, dialect_of(engine))
    if engine.dialect.name != "sqlite":
        return  # PostgreSQL's autovacuum analyses; nothing to do, nothing to fail
    with engine.begin() as conn:
        analysed = set(conn.exec_driver_sql("SELECT tbl FROM sqlite_stat1").scalars())
    assert {"organisations", "operations", "operation_items"} <= analysed


def test_housekeeping_purges_expired_idempotency_keys(engine: sa.Engine) -> None:
    from pixsearch.operations.housekeeping import purge_expired_keys
    from tests.operations.test_idempotency import count, keyed, submit

    submit(engine, keyed(1, "old", retention_ms=-1), keyed(1, "live"))
    assert purge_expired_keys(engine) == 1
    assert count(engine, idempotency_keys) == 1
