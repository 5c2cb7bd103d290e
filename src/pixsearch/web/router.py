"""The pages: the app at `/`, Swagger UI at `/docs`, ReDoc at `/redoc`, and their files.

Swagger UI's and ReDoc's builds come from the `fastapi-offline` package (MIT; 1.7.7 ships
Swagger UI 5.32.6, Apache-2.0, and ReDoc 2.5.3, MIT), installed from PyPI like any other
dependency, so the API pages work without a CDN and nothing is vendored here. The app's own
files are in `static/` beside this module.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from pixsearch.web.headers import APP_CSP, DOCS_CSP

STATIC = Path(__file__).resolve().parent / "static"
APP_PREFIX = "/app"
VENDOR_PREFIX = "/app/vendor"

router = APIRouter(include_in_schema=False)


def vendor_dir() -> Path:
    """Where `fastapi-offline` keeps swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js."""
    return Path(str(files("fastapi_offline") / "static"))


def page(name: str, csp: str) -> FileResponse:
    # no-cache: the page is revalidated, so a new version's files are picked up at once.
    headers = {"Content-Security-Policy": csp, "Cache-Control": "no-cache"}
    return FileResponse(STATIC / name, media_type="text/html", headers=headers)


@router.get("/")
async def app_page() -> FileResponse:
    return page("index.html", APP_CSP)


@router.get("/docs")
async def swagger_page() -> FileResponse:
    return page("docs.html", DOCS_CSP)


@router.get("/redoc")
async def redoc_page() -> FileResponse:
    return page("redoc.html", DOCS_CSP)


def mount_pages(app: FastAPI) -> None:
    """Add the pages and their static files to `app` (created with docs_url=None)."""
    app.include_router(router)
    app.mount(VENDOR_PREFIX, StaticFiles(directory=vendor_dir()), name="vendor")
    app.mount(APP_PREFIX, StaticFiles(directory=STATIC), name="app")
