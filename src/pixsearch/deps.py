"""Annotated dependencies: the resources of the lifespan, and the caller's organisation."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Header, Request
from starlette.concurrency import run_in_threadpool

from pixsearch.resources import Resources
from pixsearch.tenants.service import Organisation, authenticate, hash_key

KEY_CACHE_S = 5.0  # a revoked key stops working within this many seconds


async def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


ResourcesDep = Annotated[Resources, Depends(get_resources)]


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
    resources: ResourcesDep,
    api_key: Annotated[str | None, Header(alias="API-Key", include_in_schema=False)] = None,
) -> Organisation:
    cache: KeyCache = request.app.state.key_cache
    digest = hash_key(api_key or "")
    org = cache.get(digest)
    if org is None:
        org = await run_in_threadpool(_authenticate, resources, api_key)
        cache.put(digest, org)
    return org


def _authenticate(resources: Resources, api_key: str | None) -> Organisation:
    with resources.engine.connect() as conn:
        return authenticate(conn, api_key)


OrgDep = Annotated[Organisation, Depends(get_organisation)]
