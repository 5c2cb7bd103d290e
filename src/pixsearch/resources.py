"""Everything a process holds open, built once and shared by the API and the workers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import sqlalchemy as sa

from pixsearch.backend import Backend, open_backend
from pixsearch.config import Settings
from pixsearch.db.engine import create_db_engine
from pixsearch.db.migrate import upgrade
from pixsearch.ingest.fetch import Fetcher
from pixsearch.ingest.pipeline import CaptionEncoder, Pipeline
from pixsearch.ingest.steps import build_captions, build_steps
from pixsearch.operations.enqueuer import Enqueuer
from pixsearch.operations.waiter import Waiter
from pixsearch.runtimes.registry import Models, open_models
from pixsearch.vocabulary.operations import Applied

log = logging.getLogger(__name__)


@dataclass
class Resources:
    settings: Settings
    engine: sa.Engine
    backend: Backend
    fetcher: Fetcher
    models: Models
    pipeline: Pipeline
    captions: CaptionEncoder | None
    waiter: Waiter
    enqueuer: Enqueuer
    # Set by whoever runs workers in this process, so a new operation starts at once.
    wake_workers: Callable[[], None] = field(default=lambda: None)
    # Called after each applied operation: in-memory search indexes follow the database.
    on_applied: list[Callable[[Applied], None]] = field(default_factory=list)


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
    backend = open_backend(engine)
    enqueuer = Enqueuer(engine, backend.dialect)
    try:
        async with Fetcher(settings) as fetcher:
            pipeline = Pipeline(settings, fetcher, build_steps(models, settings.inference_batch))
            yield Resources(
                settings=settings,
                engine=engine,
                backend=backend,
                fetcher=fetcher,
                models=models,
                pipeline=pipeline,
                captions=build_captions(models, settings.inference_batch),
                waiter=Waiter(settings.worker_poll_s),
                enqueuer=enqueuer,
                on_applied=[backend.embeddings.follow],
            )
    finally:
        enqueuer.close()
        backend.close()
        engine.dispose()
