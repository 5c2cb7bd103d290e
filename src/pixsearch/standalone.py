"""`pixsearch worker`: the worker loop in its own process, without the API."""

from __future__ import annotations

import asyncio
import logging
import signal

from pixsearch.background import run_background
from pixsearch.config import Settings
from pixsearch.monitoring.exposition import serve_metrics
from pixsearch.resources import open_resources

log = logging.getLogger(__name__)


async def run_worker(settings: Settings, concurrency: int) -> None:
    """Run operations until interrupted."""
    async with open_resources(settings) as resources:
        if resources.backend.dialect.single_process:
            log.warning(
                "a separate worker on SQLite competes with `serve` for one file; "
                "use `serve` alone, or PostgreSQL"
            )
        port = settings.metrics_port
        with serve_metrics(resources.metrics, settings.metrics_host, port):
            async with run_background(resources, workers=True, concurrency=concurrency):
                log.info("worker started (concurrency %d)", concurrency)
                await _until_stopped()
        log.info("worker stopped")


async def _until_stopped() -> None:
    """Wait for SIGTERM or SIGINT, so that stopping runs the shutdown code (running
    operations are handed back to the queue) instead of dying where it stands."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
