"""create_app(settings): the FastAPI application, its lifespan, error mapping and routers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from pixsearch import __version__
from pixsearch.background import run_background
from pixsearch.celebs.router import router as celebs_router
from pixsearch.config import Settings
from pixsearch.deps import KeyCache, new_submitter
from pixsearch.errors import Conflict, InvalidInput, NotFound, PixsearchError, Unauthorized
from pixsearch.http_errors import install_error_shapes
from pixsearch.images.router import router as images_router
from pixsearch.images.router import writes as images_writes
from pixsearch.monitoring.exposition import metrics_endpoint, serve_metrics
from pixsearch.monitoring.middleware import MonitorRequests
from pixsearch.operations.router import router as operations_router
from pixsearch.resources import Resources, open_resources
from pixsearch.search.router import router as search_router
from pixsearch.tagging.router import router as tagging_router
from pixsearch.web.headers import SecurityHeaders
from pixsearch.web.router import mount_pages

log = logging.getLogger(__name__)

STATUS_OF = {NotFound: 404, Conflict: 409, Unauthorized: 401}


def create_app(settings: Settings, *, run_workers: bool = True) -> FastAPI:
    """The API; with `run_workers`, operations also run inside this process."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_resources(settings) as resources:
            app.state.resources = resources
            app.state.key_cache = KeyCache()
            app.state.submitter = new_submitter(resources)
            port = settings.metrics_port
            with serve_metrics(resources.metrics, settings.metrics_host, port):
                async with run_background(resources, workers=run_workers):
                    log.info("pixsearch %s ready", __version__)
                    yield

    app = FastAPI(
        title="pixsearch",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,  # served by pixsearch.web, from the service's own files
        redoc_url=None,
    )
    # The body limit (413 from Content-Length up front, or as a chunked body grows) and
    # FastAPI's own errors, in the contract's JSON shapes; innermost of the middlewares.
    install_error_shapes(app, settings.max_body_bytes)
    # Request id, access line and request metrics, inside the headers and CORS layers.
    app.add_middleware(MonitorRequests)
    app.add_middleware(SecurityHeaders)
    if settings.cors_origins:
        # Added last, so it runs first: a preflight is answered before anything else.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["API-Key", "Content-Type", "Idempotency-Key"],
            max_age=600,
        )
    app.add_exception_handler(PixsearchError, _domain_error)  # type: ignore[arg-type]
    if settings.metrics == "on" and settings.metrics_port is None:
        app.add_api_route("/metrics", metrics_endpoint, include_in_schema=False)
    for router in (
        images_writes,
        images_router,
        operations_router,
        search_router,
        celebs_router,
        tagging_router,
    ):
        add_routes(app, router)

    @app.get("/health", tags=["service"], summary="Readiness, and which representations are on")
    async def health(request: Request) -> dict[str, Any]:
        resources: Resources = request.app.state.resources
        return {
            "status": "ok",
            "version": __version__,
            "database": resources.backend.name,
            "workers": run_workers,
            "representations": resources.models.status(),
        }

    mount_pages(app)
    return app


def add_routes(app: FastAPI, router: APIRouter) -> None:
    """The router's routes as the app's own. FastAPI keeps an included router as a node
    of the app's routes that it walks twice a request, counting its routes on each walk:
    about 55 us of a write's CPU (bench/writes.py). Inclusion would add nothing to these
    routes: no prefix, no dependencies, no tags beyond their router's own."""
    app.router.routes.extend(router.routes)


async def _domain_error(_request: Request, error: PixsearchError) -> JSONResponse:
    if isinstance(error, InvalidInput):
        detail = [{"type": error.type, "loc": list(error.loc), "msg": error.msg}]
        return JSONResponse({"detail": detail}, status_code=422)
    status = next((code for cls, code in STATUS_OF.items() if isinstance(error, cls)), 500)
    if status == 500:
        log.error("unmapped domain error: %r", error)
    return JSONResponse({"detail": str(error)}, status_code=status)
