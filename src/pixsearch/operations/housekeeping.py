"""Periodic chores: delete finished operations past their retention time."""

from __future__ import annotations

import asyncio
import logging

from anyio import to_thread

from pixsearch.db.clock import now_ms
from pixsearch.db.engine import writer
from pixsearch.operations import store
from pixsearch.resources import Resources

log = logging.getLogger(__name__)
PURGE_EVERY_S = 3600.0


async def purge_periodically(resources: Resources) -> None:
    while True:
        try:
            removed = await to_thread.run_sync(purge_old, resources)
            if removed:
                log.info("purged %d finished operation(s)", removed)
        except Exception:
            log.exception("purging finished operations failed; will try again")
        await asyncio.sleep(PURGE_EVERY_S)


def purge_old(resources: Resources) -> int:
    cutoff = now_ms() - int(resources.settings.ops_retention_days * 86_400_000)
    with writer(resources.engine).begin() as conn:
        return store.purge_finished(conn, cutoff)
