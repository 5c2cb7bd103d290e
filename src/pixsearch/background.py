"""The background tasks of a process: workers, the orphaned-operation reaper, LISTEN, purge.

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
from pixsearch.operations.store import Requeued
from pixsearch.operations.worker import Worker, cancel_and_wait, recover, requeue_orphans
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
            outcome = await asyncio.to_thread(
                recover, resources.engine, resources.backend.dialect, resources.settings.max_crashes
            )
            report_orphans(outcome, "of a process that died")
        jobs.append(build_worker(resources, concurrency).run())
        if not single_process:
            jobs.append(reap_orphans(resources))
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


REAP_S = 2.0  # how often a PostgreSQL worker looks for operations of dead workers


async def reap_orphans(resources: Resources) -> None:
    """Put back the operations of workers that died or stopped sending heartbeats: at
    start, then every REAP_S (a dead worker's session is gone at once; a stuck worker's
    heartbeat is stale after PIXSEARCH_WORKER_STALE_S)."""
    settings, dialect = resources.settings, resources.backend.dialect
    while True:
        try:
            outcome = await asyncio.to_thread(
                requeue_orphans,
                resources.engine,
                dialect,
                settings.worker_stale_s,
                settings.max_crashes,
            )
        except Exception:
            log.exception("requeueing orphaned operations failed; will try again")
        else:
            report_orphans(outcome, "of a dead or stalled worker")
            if outcome.requeued:
                resources.wake_workers()
        await asyncio.sleep(REAP_S)


def report_orphans(outcome: Requeued, whose: str) -> None:
    if outcome.requeued:
        log.warning("%d operation(s) %s will run again", len(outcome.requeued), whose)
    for op_id in outcome.stopped:
        log.error("operation %s stopped: its process died too often while it ran alone", op_id)
