"""The background tasks of a process: workers, the stale-operation reaper, LISTEN, purge.

`pixsearch serve` runs them with or without workers; `pixsearch worker` runs them without
the API. Both call `run_background`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from pixsearch.operations.housekeeping import housekeep_periodically
from pixsearch.operations.worker import Worker, cancel_and_wait, recover, requeue_stale
from pixsearch.resources import Resources

log = logging.getLogger(__name__)


def build_worker(resources: Resources, concurrency: int = 4) -> Worker:
    return Worker(
        resources.engine,
        resources.backend,
        resources.settings,
        resources.pipeline,
        captions=resources.captions,
        concurrency=concurrency,
        on_applied=resources.on_applied,
        on_finished=resources.waiter.notify,
        wake=resources.work_queued,
        metrics=resources.metrics,
    )


@asynccontextmanager
async def run_background(
    resources: Resources, *, workers: bool, concurrency: int = 4
) -> AsyncIterator[None]:
    """Start this process's background tasks; stop them on exit."""
    jobs: list[Coroutine[Any, Any, None]] = [
        housekeep_periodically(
            resources.engine, resources.backend.dialect, resources.settings.ops_retention_days
        )
    ]
    single_process = resources.backend.dialect.single_process
    if workers:
        if single_process:
            # SQLite means one process: whatever was running was ours, and it died.
            requeued = await asyncio.to_thread(recover, resources.engine)
            if requeued:
                log.warning("%d interrupted operation(s) will run again", requeued)
        jobs.append(build_worker(resources, concurrency).run())
        if not single_process:
            jobs.append(reap_stale(resources))
    if not single_process:
        from pixsearch.operations.listener import listen

        jobs.append(
            listen(
                resources.engine.url.render_as_string(hide_password=False),
                resources.wake_workers,
                resources.waiter.notify,
            )
        )
    tasks = [asyncio.create_task(job) for job in jobs]
    try:
        yield
    finally:
        await cancel_and_wait(tasks, "background")


async def reap_stale(resources: Resources) -> None:
    """Put back the operations of workers that stopped sending heartbeats."""
    stale_s = resources.settings.worker_stale_s
    while True:
        await asyncio.sleep(stale_s / 4)
        try:
            requeued = await asyncio.to_thread(requeue_stale, resources.engine, stale_s)
        except Exception:
            log.exception("requeueing stale operations failed; will try again")
            continue
        if requeued:
            log.warning("put back %d operation(s) of a stalled worker", requeued)
            resources.wake_workers()
