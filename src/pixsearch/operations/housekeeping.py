"""Periodic chores: delete finished operations past their retention time; on SQLite,
keep the query planner's statistics fresh (PostgreSQL's autovacuum does that itself)."""

from __future__ import annotations

import asyncio
import logging

from anyio import to_thread

from pixsearch.db.clock import now_ms
from pixsearch.db.engine import writer
from pixsearch.operations import store
from pixsearch.resources import Resources

log = logging.getLogger(__name__)
HOUSEKEEPING_EVERY_S = 3600.0


async def housekeep_periodically(resources: Resources) -> None:
    while True:
        try:
            removed = await to_thread.run_sync(purge_old, resources)
            if removed:
                log.info("purged %d finished operation(s)", removed)
            await to_thread.run_sync(optimize, resources)  # after the purge: fewer rows
        except Exception:
            log.exception("housekeeping failed; will try again")
        await asyncio.sleep(HOUSEKEEPING_EVERY_S)


def purge_old(resources: Resources) -> int:
    cutoff = now_ms() - int(resources.settings.ops_retention_days * 86_400_000)
    with writer(resources.engine).begin() as conn:
        return store.purge_finished(conn, cutoff)


def optimize(resources: Resources) -> None:
    """Refresh the planner's statistics where the engine does not (SQLite's ANALYZE)."""
    with writer(resources.engine).begin() as conn:
        resources.backend.dialect.optimize(conn)
