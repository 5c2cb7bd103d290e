"""The write routes' LeanRoute answers as FastAPI's own handler would, bad requests above all.

Two services on their own SQLite files get the same requests in the same order: one as
`create_app` builds it, one whose write routes are plain APIRoutes of the same endpoints
(placed ahead of the others, so that they answer). Their answers must be equal: status,
body and headers. The database is the same engine's either way, so SQLite alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from pixsearch.app import create_app
from pixsearch.images.router import writes
from pixsearch.lean_route import LeanRoute
from tests.conftest import add_key, make_settings

JSON = {"Content-Type": "application/json"}
GOOD = b'{"src": "http://127.0.0.1:9/a.jpg", "title": "a"}'
DEEP = b"[" * 5_000 + b"]" * 5_000  # too deep for json.loads: a 400

# (method, path, headers beyond the key ("API-Key": None drops the key), body)
REQUESTS: list[tuple[str, str, dict[str, Any], bytes | None]] = [
    ("POST", "/imgs/a", JSON, GOOD),
    ("POST", "/imgs/a", {**JSON, "Idempotency-Key": "k1"}, GOOD),
    ("POST", "/imgs/a", {**JSON, "Idempotency-Key": "k1"}, GOOD),  # the repeat
    ("POST", "/imgs/a", {**JSON, "Idempotency-Key": "k1"}, b'{"src": "http://h/b.jpg"}'),
    ("POST", "/imgs/a", {**JSON, "Idempotency-Key": "bad\x01key"}, GOOD),
    ("POST", "/imgs/a", {**JSON, "API-Key": None}, GOOD),
    ("POST", "/imgs/a", {**JSON, "API-Key": "wrong"}, GOOD),
    ("POST", "/imgs/a", {**JSON, "API-Key": None}, b"{not json"),
    ("POST", "/imgs/a", {**JSON, "API-Key": None}, b'{"src": 3}'),
    ("POST", "/imgs/a?wait=maybe", JSON, b'{"src": 3}'),
    ("POST", "/imgs/a?urgent=true&strict=1", JSON, GOOD),
    ("POST", "/imgs/a?lang=xx", JSON, GOOD),
    ("POST", "/imgs/a", JSON, b"{not json"),
    ("POST", "/imgs/a", JSON, b'{"src": "http://h/a.jpg",}'),
    ("POST", "/imgs/a", JSON, b'{"src": "\xff\xfe"}'),
    ("POST", "/imgs/a", JSON, b""),
    ("POST", "/imgs/a", JSON, b"null"),
    ("POST", "/imgs/a", JSON, b"[]"),
    ("POST", "/imgs/a", JSON, b'"text"'),
    ("POST", "/imgs/a", JSON, DEEP),
    ("POST", "/imgs/a", JSON, b'{"src": "http://h/a.jpg", "year": 1e999}'),
    ("POST", "/imgs/a", JSON, b'{"src": "http://h/a.jpg", "id": "b"}'),
    ("POST", "/imgs/a", JSON, b'{"src": "ftp://h/a.jpg"}'),
    ("POST", "/imgs/a", JSON, b'{"title": "no src"}'),
    ("POST", "/imgs/a", JSON, b'{"src": "http://h/a.jpg", "unknown": 1}'),
    ("POST", "/imgs/a", {}, GOOD),
    ("POST", "/imgs/a", {"Content-Type": "text/plain"}, GOOD),
    ("POST", "/imgs/a", {"Content-Type": "application/json; charset=utf-8"}, GOOD),
    ("POST", "/imgs/a", {"Content-Type": "Application/JSON"}, GOOD),
    ("POST", "/imgs/a", {"Content-Type": "application/merge-patch+json"}, GOOD),
    ("POST", "/imgs/a", {"Content-Type": "application/jsonx"}, GOOD),
    ("POST", "/imgs/" + "x" * 257, JSON, GOOD),
    ("POST", "/imgs/%20a", JSON, GOOD),
    ("POST", "/imgs/a%01b", JSON, GOOD),
    ("POST", "/imgs/%20a?wait=maybe", JSON, b"{}"),
    ("PUT", "/imgs/a", JSON, GOOD),
    ("PUT", "/imgs/a", JSON, b'{"title": "no src"}'),
    ("PATCH", "/imgs/a", JSON, b'{"title": "t"}'),
    ("PATCH", "/imgs/a", JSON, b'{"src": null}'),
    ("PATCH", "/imgs/a", JSON, b'{"id": "a", "date": "2020-1-2"}'),
    ("PATCH", "/imgs/a", JSON, b'{"date": "2020-13-40"}'),
    ("DELETE", "/imgs/a", {}, None),
    ("DELETE", "/imgs/a?strict=yes", {}, None),
    ("DELETE", "/imgs/a?wait=maybe", {}, None),
    ("DELETE", "/imgs/a", JSON, b"{not json"),
    ("POST", "/imgs", JSON, b'[{"id": "b", "src": "http://h/b.jpg"}, {"id": "c"}]'),
    ("POST", "/imgs", JSON, b'[{"id": "b", "src": "http://h/b.jpg"}]'),
    ("POST", "/imgs", JSON, b'[{"id": "d", "src": "http://h/d.jpg"}, {"id": "d", "src": "x"}]'),
    ("POST", "/imgs", JSON, b'{"id": "b"}'),
    ("POST", "/imgs", JSON, b"[" + b",".join([b'{"id": "e", "src": "http://h/e"}'] * 3) + b"]"),
    ("PUT", "/imgs", JSON, b'[{"id": "b", "src": "http://h/b.jpg"}]'),
    ("PATCH", "/imgs", JSON, b'[{"id": "b", "title": "t"}, {"title": "no id"}]'),
    ("DELETE", "/imgs", JSON, b'[{"id": "b"}, {"id": "zz"}]'),
    ("DELETE", "/imgs", JSON, b""),
    ("DELETE", "/imgs", {}, b'[{"id": "b"}]'),
    ("POST", "/imgs", JSON, b"[" + b'{"id": "f"},' * 3_000 + b"{}]"),  # over the body limit
    ("GET", "/imgs/a", {}, None),  # a read, untouched: both the same route
    ("GET", "/imgs", {}, None),
    ("POST", "/ops/1", JSON, GOOD),
    ("POST", "/imgs/a/b", JSON, GOOD),
]


def with_fastapi_write_routes(app: FastAPI) -> FastAPI:
    """`app`, its write routes answered by FastAPI's own handler instead."""
    for route in reversed(writes.routes):
        assert isinstance(route, LeanRoute)
        plain = APIRoute(route.path, route.endpoint, methods=sorted(route.methods))
        app.router.routes.insert(0, plain)
    return app


@pytest.fixture
def services(tmp_path: Path) -> Iterator[list[tuple[TestClient, str]]]:
    """The service as built, and the same with FastAPI's handler; each with a key."""
    made = []
    for name, build in (("lean", lambda app: app), ("fastapi", with_fastapi_write_routes)):
        settings = make_settings(tmp_path / name, max_body_bytes=20_000)
        key = add_key(settings, "acme")
        made.append((TestClient(build(create_app(settings, run_workers=False))), key))
    with made[0][0], made[1][0]:
        yield made


def answer(client: TestClient, key: str, request: tuple[str, str, dict[str, Any], Any]) -> Any:
    method, path, headers, body = request
    headers = {"API-Key": key, **headers}
    sent = {name: value for name, value in headers.items() if value is not None}
    response = client.request(method, path, headers=sent, content=body)
    kept = {n: v for n, v in response.headers.items() if n not in ("x-request-id", "date")}
    return response.status_code, response.content, kept


def test_the_write_routes_answer_every_request_as_fastapi_would(
    services: list[tuple[TestClient, str]],
) -> None:
    statuses = set()
    for request in REQUESTS:
        lean, fastapi = (answer(client, key, request) for client, key in services)
        assert lean == fastapi, request
        statuses.add(lean[0])
    # The battery reaches every kind of answer, so equal answers are not all one kind.
    assert statuses >= {202, 400, 401, 404, 405, 413, 422}, statuses


def _sync_dependency(request: Request) -> int:
    return 1  # (at module level: the endpoints' annotations are resolved in its globals)


async def _async_dependency(request: Request) -> int:
    return 1


def test_a_route_with_a_parameter_it_cannot_solve_is_refused_when_declared() -> None:
    router = APIRouter(route_class=LeanRoute)

    async def with_query(q: Annotated[str, Query()]) -> None: ...

    def sync_endpoint(body: dict[str, Any]) -> None: ...

    async def two_bodies(a: dict[str, Any], b: dict[str, Any]) -> None: ...

    async def optional_body(body: dict[str, Any] | None = None) -> None: ...

    async def with_sync_dependency(n: Annotated[int, Depends(_sync_dependency)]) -> None: ...

    for endpoint, reason in (
        (with_query, "not a path, body or dependency"),
        (sync_endpoint, "must be async"),
        (two_bodies, "one body at most"),
        (optional_body, "has a default"),
        (with_sync_dependency, "dependency is f\\(request\\), async"),
    ):
        with pytest.raises(TypeError, match=reason):
            router.add_api_route("/x", endpoint, methods=["POST"])
    with pytest.raises(TypeError, match="no route-level dependencies"):
        router.add_api_route(
            "/x", two_bodies, methods=["POST"], dependencies=[Depends(_async_dependency)]
        )
