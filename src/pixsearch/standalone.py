"""`pixsearch worker`: the worker loop in its own process, without the API."""

from __future__ import annotations

import asyncio
import logging

from pixsearch.app import build_worker
from pixsearch.config import Settings
from pixsearch.operations.worker import requeue_stale
from pixsearch.resources import open_resources

log = logging.getLogger(__name__)


async def run_worker(settings: Settings, concurrency: int) -> None:
    """Run operations until interrupted; put back those of workers that died."""
    async with open_resources(settings) as resources:
        worker = build_worker(resources, concurrency)
        log.info("worker %s started", worker.name)
        loop_task = asyncio.create_task(worker.run())
        try:
            while not loop_task.done():
                requeued = await asyncio.to_thread(
                    requeue_stale, resources.engine, settings.worker_stale_s
                )
                if requeued:
                    log.warning("put back %d operation(s) of a stalled worker", requeued)
                    worker.wake()
                await asyncio.sleep(settings.worker_stale_s / 4)
        finally:
            loop_task.cancel()
