"""Periodic chores: delete finished operations past their retention time and expired
idempotency keys; on SQLite, keep the query planner's statistics fresh (PostgreSQL's
autovacuum does that itself)."""

from __future__ import annotations

import asyncio
import logging

import sqlalchemy as sa
from anyio import to_thread

from pixsearch.db.clock import now_ms
from pixsearch.db.dialect import Dialect
from pixsearch.db.engine import writer
from pixsearch.operations import idempotency, store

log = logging.getLogger(__name__)
HOUSEKEEPING_EVERY_S = 3600.0


async def housekeep_periodically(
    engine: sa.Engine, dialect: Dialect, retention_days: float
) -> None:
    while True:
        try:
            removed = await to_thread.run_sync(purge_old, engine, retention_days)
            if removed:
                log.info("purged %d finished operation(s)", removed)
            expired = await to_thread.run_sync(purge_expired_keys, engine)
            if expired:
                log.info("purged %d expired idempotency key(s)", expired)
            await to_thread.run_sync(optimize, engine, dialect)  # after the purge: fewer rows
        except Exception:
            log.exception("housekeeping failed; will try again")
        await asyncio.sleep(HOUSEKEEPING_EVERY_S)


def purge_old(engine: sa.Engine, retention_days: float) -> int:
    cutoff = now_ms() - int(retention_days * 86_400_000)
    with writer(engine).begin() as conn:
        return store.purge_finished(conn, cutoff)


def purge_expired_keys(engine: sa.Engine) -> int:
    with writer(engine).begin() as conn:
        return idempotency.purge_expired(conn)


def optimize(engine: sa.Engine, dialect: Dialect) -> None:
    """Refresh the planner's statistics where the engine does not (SQLite's ANALYZE)."""
    with writer(engine).begin() as conn:
        dialect.optimize(conn)
