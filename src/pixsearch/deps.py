"""Annotated dependencies: narrow parts of the lifespan's resources, one database connection
per request (read or write), and the caller's organisation.

Routers take what they use (SettingsDep, BackendDep, ReadConnDep, ...), never the whole
`Resources`. A connection dependency is closed when the handler returns, before the
response is sent (scope "function"); handlers that use one are plain functions, which
FastAPI runs in its thread pool.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from starlette.concurrency import run_in_threadpool

from pixsearch.backend import Backend
from pixsearch.config import Settings
from pixsearch.db.engine import writer
from pixsearch.images.writes import Submitter
from pixsearch.ingest.fetch import Fetcher
from pixsearch.monitoring.logs import set_org
from pixsearch.monitoring.metrics import Metrics
from pixsearch.operations.waiter import Waiter
from pixsearch.resources import Resources
from pixsearch.runtimes.registry import Models
from pixsearch.tenants.service import Organisation, authenticate, hash_key

KEY_CACHE_S = 5.0  # a revoked key stops working within this many seconds
# Declared as the OpenAPI security scheme `API-Key`, so that /docs can "Authorize".
API_KEY_HEADER = APIKeyHeader(
    name="API-Key",
    scheme_name="API-Key",
    description="An organisation's key, from `pixsearch keys create --org NAME`.",
    auto_error=False,  # a missing key is the same 401 as a wrong one, from authenticate()
)


def resources_of(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


# The getters take the request, not a dependency on the resources: each sub-dependency
# costs FastAPI about 25 us of CPU per request (bench/writes.py measures a write's cost).
async def get_settings(request: Request) -> Settings:
    return resources_of(request).settings


async def get_backend(request: Request) -> Backend:
    return resources_of(request).backend


async def get_models(request: Request) -> Models:
    return resources_of(request).models


async def get_metrics(request: Request) -> Metrics | None:
    return resources_of(request).metrics


async def get_fetcher(request: Request) -> Fetcher:
    return resources_of(request).fetcher


async def get_waiter(request: Request) -> Waiter:
    return resources_of(request).waiter


def submitter_of(request: Request) -> Submitter:
    """What queues a write (and waits for it under wait=true), for the request's app: made
    once by the app's lifespan (`new_submitter`), not per write."""
    submitter: Submitter = request.app.state.submitter
    return submitter


def new_submitter(resources: Resources) -> Submitter:
    return Submitter(
        resources.enqueuer,
        resources.waiter,
        resources.work_queued,
        resources.settings.wait_timeout_s,
        int(resources.settings.idempotency_retention_h * 3_600_000),
    )


def read_connection(request: Request) -> Iterator[sa.Connection]:
    with resources_of(request).engine.connect() as conn:
        yield conn


def write_connection(request: Request) -> Iterator[sa.Connection]:
    """A connection whose transactions (`with conn.begin():`) take the write lock at BEGIN."""
    with writer(resources_of(request).engine).connect() as conn:
        yield conn


SettingsDep = Annotated[Settings, Depends(get_settings)]
BackendDep = Annotated[Backend, Depends(get_backend)]
ModelsDep = Annotated[Models, Depends(get_models)]
MetricsDep = Annotated[Metrics | None, Depends(get_metrics)]
FetcherDep = Annotated[Fetcher, Depends(get_fetcher)]
WaiterDep = Annotated[Waiter, Depends(get_waiter)]
ReadConnDep = Annotated[sa.Connection, Depends(read_connection, scope="function")]
WriteConnDep = Annotated[sa.Connection, Depends(write_connection, scope="function")]


class KeyCache:
    """Recently seen keys (by hash), so that each request need not read the database."""

    def __init__(self) -> None:
        self._orgs: dict[str, tuple[float, Organisation]] = {}

    def get(self, digest: str) -> Organisation | None:
        hit = self._orgs.get(digest)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, digest: str, org: Organisation) -> None:
        if len(self._orgs) > 10_000:
            self._orgs.clear()
        self._orgs[digest] = (time.monotonic() + KEY_CACHE_S, org)


async def get_organisation(
    request: Request,
    api_key: Annotated[str | None, Security(API_KEY_HEADER)] = None,
) -> Organisation:
    return await organisation_of(request, api_key)


async def organisation_of(request: Request, api_key: str | None) -> Organisation:
    """The key's organisation; the database is read only when the key is not cached."""
    cache: KeyCache = request.app.state.key_cache
    digest = hash_key(api_key or "")
    org = cache.get(digest)
    if org is None:
        org = await run_in_threadpool(_authenticate, resources_of(request).engine, api_key)
        cache.put(digest, org)
    set_org(org.name)
    return org


def _authenticate(engine: sa.Engine, api_key: str | None) -> Organisation:
    with engine.connect() as conn:
        return authenticate(conn, api_key)


OrgDep = Annotated[Organisation, Depends(get_organisation)]
