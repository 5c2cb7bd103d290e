"""Everything a process holds open, built once and shared by the API and the workers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import sqlalchemy as sa

from pixsearch.backend import Backend, open_backend
from pixsearch.config import Settings
from pixsearch.db.engine import create_db_engine
from pixsearch.db.migrate import upgrade
from pixsearch.ingest.fetch import Fetcher
from pixsearch.ingest.pipeline import (
    DEFAULT_DRAFT,
    IDENTITY_DRAFT,
    OCR_DRAFT,
    CaptionEncoder,
    Pipeline,
)
from pixsearch.ingest.steps import build_captions, build_steps
from pixsearch.monitoring.metrics import Metrics
from pixsearch.operations.enqueuer import Enqueuer
from pixsearch.operations.waiter import Waiter
from pixsearch.runtimes.identities import IdentityPool
from pixsearch.runtimes.registry import Models, open_models
from pixsearch.vocabulary.operations import Applied

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Resources:
    """Complete when opened: nothing is set on it afterwards."""

    settings: Settings
    engine: sa.Engine
    backend: Backend
    fetcher: Fetcher
    models: Models
    pipeline: Pipeline
    captions: CaptionEncoder | None
    waiter: Waiter
    enqueuer: Enqueuer
    # Set when an operation is queued in this process (or another one, through LISTEN);
    # the worker of this process, if it runs one, waits on it.
    work_queued: asyncio.Event
    metrics: Metrics | None  # None with PIXSEARCH_METRICS=off: nothing is counted
    # Called after each applied operation: in-memory search indexes follow the database.
    on_applied: tuple[Callable[[Applied], None], ...]

    def wake_workers(self) -> None:
        """Have this process's worker look for work now."""
        self.work_queued.set()


@asynccontextmanager
async def open_resources(settings: Settings, *, migrate: bool = True) -> AsyncIterator[Resources]:
    """Open the database (migrating it), the HTTP client and the models; close them after."""
    engine = create_db_engine(
        settings.resolved_database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
    )
    if migrate:
        upgrade(engine)
    models = open_models(settings)
    for name, state in models.status().items():
        log.info("representation %s: %s", name, state)
    backend = open_backend(engine, results_in_memory=settings.results_in_memory)
    metrics = open_metrics(settings, engine)
    enqueuer = Enqueuer(engine, backend.dialect, metrics)
    batch = settings.inference_batch
    identity_pool = (
        IdentityPool(models.identities, settings.face_processes)
        if models.identities is not None
        else None
    )
    try:
        async with Fetcher(settings, metrics=metrics) as fetcher:
            wide = models.identities is not None or models.ocr is not None
            draft = max(IDENTITY_DRAFT, OCR_DRAFT) if wide else DEFAULT_DRAFT
            steps = build_steps(models, batch, metrics, identity_pool)
            pipeline = Pipeline(settings, fetcher, steps, draft_size=draft)
            yield Resources(
                settings=settings,
                engine=engine,
                backend=backend,
                fetcher=fetcher,
                models=models,
                pipeline=pipeline,
                captions=build_captions(models, batch, metrics),
                waiter=Waiter(engine, settings.worker_poll_s),
                enqueuer=enqueuer,
                metrics=metrics,
                work_queued=asyncio.Event(),
                on_applied=followers(backend),
            )
    finally:
        if identity_pool is not None:
            identity_pool.close()
        enqueuer.close()
        backend.close()
        engine.dispose()


def followers(backend: Backend) -> tuple[Callable[[Applied], None], ...]:
    """The in-memory indexes that follow each applied operation."""
    found: list[Callable[[Applied], None]] = [
        backend.embeddings.follow,
        backend.faces.follow,
        backend.fulltext.follow,
    ]
    if backend.columns is not None:
        found.append(backend.columns.follow)
    return tuple(found)


def open_metrics(settings: Settings, engine: sa.Engine) -> Metrics | None:
    """This process's metrics, watching `engine`'s queue; None when they are off."""
    if settings.metrics == "off":
        return None
    metrics = Metrics(per_org=settings.metrics_per_org)
    metrics.watch_database(engine)
    return metrics
