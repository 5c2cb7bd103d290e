"""`pixsearch worker`: the worker loop in its own process, without the API."""

from __future__ import annotations

import asyncio
import logging

from pixsearch.config import Settings
from pixsearch.operations.background import run_background
from pixsearch.resources import open_resources

log = logging.getLogger(__name__)


async def run_worker(settings: Settings, concurrency: int) -> None:
    """Run operations until interrupted."""
    async with open_resources(settings) as resources:
        if resources.engine.dialect.name == "sqlite":
            log.warning(
                "a separate worker on SQLite competes with `serve` for one file; "
                "use `serve` alone, or PostgreSQL"
            )
        async with run_background(resources, workers=True, concurrency=concurrency):
            log.info("worker started (concurrency %d)", concurrency)
            await asyncio.Event().wait()
