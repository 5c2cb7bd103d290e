"""The pages and their files are served by the service itself, from the package."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pixsearch.app import create_app
from pixsearch.web.router import STATIC, vendor_dir
from tests.conftest import add_key, make_settings


@pytest.fixture
def web(tmp_path: Path) -> Iterator[TestClient]:
    """The app on SQLite only: the pages do not depend on the database engine."""
    with TestClient(create_app(make_settings(tmp_path))) as client:
        yield client


def referenced(html: str) -> list[str]:
    return [url for url in re.findall(r'(?:src|href)="([^"]+)"', html) if url[0] != "#"]


@pytest.mark.parametrize("path", ["/", "/docs", "/redoc"])
def test_each_page_refers_only_to_files_of_the_service(web: TestClient, path: str) -> None:
    page = web.get(path)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    urls = referenced(page.text)
    assert urls and all(url.startswith("/") and not url.startswith("//") for url in urls)
    for url in urls:
        asset = web.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["x-content-type-options"] == "nosniff"


def test_every_module_the_app_imports_is_served(web: TestClient) -> None:
    """Follow the ES module imports from main.js: a missing file would blank the page."""
    seen: set[str] = set()
    todo = ["/app/main.js"]
    while todo:
        url = todo.pop()
        answer = web.get(url)
        assert answer.status_code == 200, url
        assert answer.headers["content-type"].startswith("text/javascript")
        seen.add(url)
        base = url.rsplit("/", 1)[0]
        for target in re.findall(r'from "(\.{1,2}/[^"]+)"', answer.text):
            parts = (base + "/" + target).split("/")
            resolved: list[str] = []
            for part in parts:
                if part == "..":
                    resolved.pop()
                elif part != ".":
                    resolved.append(part)
            if "/".join(resolved) not in seen:
                todo.append("/".join(resolved))
    assert len(seen) >= 10


def test_the_app_never_writes_markup_from_data() -> None:
    sources = [path.read_text() for path in STATIC.rglob("*.js")]
    assert sources
    assert not any(
        re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write", s) for s in sources
    )


def test_the_swagger_and_redoc_builds_are_installed() -> None:
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
        assert (vendor_dir() / name).stat().st_size > 100_000


def test_openapi_declares_the_api_key_scheme_on_every_endpoint_but_health(
    web: TestClient,
) -> None:
    spec = web.get("/openapi.json").json()
    scheme = spec["components"]["securitySchemes"]["API-Key"]
    assert scheme == {**scheme, "type": "apiKey", "in": "header", "name": "API-Key"}
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            expected = [] if path == "/health" else [{"API-Key": []}]
            assert operation.get("security", []) == expected, (method, path)
    assert "/" not in spec["paths"] and "/docs" not in spec["paths"]


def test_the_key_from_the_scheme_authenticates(web: TestClient, tmp_path: Path) -> None:
    key = add_key(make_settings(tmp_path), "acme")
    assert web.get("/ops", headers={"API-Key": key}).status_code == 200
    missing = web.get("/ops")
    assert missing.status_code == 401 and missing.json() == {"detail": missing.json()["detail"]}
    assert web.get("/ops", headers={"API-Key": "wrong"}).status_code == 401


def test_the_page_preloads_every_module() -> None:
    """A module left out of the preload list only costs time; one listed but gone, a 404."""
    html = (STATIC / "index.html").read_text()
    preloaded = set(re.findall(r'rel="modulepreload" href="/app/([^"]+)"', html))
    modules = {str(p.relative_to(STATIC)) for p in STATIC.rglob("*.js")}
    assert preloaded == modules - {"main.js", "docs-init.js", "redoc-init.js"}
