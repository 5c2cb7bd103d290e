"""Bad input: a 422 in FastAPI's shape naming the field, 401, 404, 413 — never a 5xx."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api

SRC = "http://127.0.0.1:9/x.jpg"


def detail_locs(response: Any) -> list[list[Any]]:
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert all({"loc", "msg", "type"} <= set(entry) for entry in detail)
    return [entry["loc"] for entry in detail]


@pytest.mark.parametrize(
    ("method", "path", "body", "loc"),
    [
        ("POST", "/imgs/a", {"src": SRC, "titel": "typo"}, ["body", "titel"]),
        ("POST", "/imgs/a", {"title": "no src"}, ["body", "src"]),
        ("POST", "/imgs/a", {"src": "ftp://example.com/a.jpg"}, ["body", "src"]),
        ("POST", "/imgs/a", {"src": "file:///etc/passwd"}, ["body", "src"]),
        ("POST", "/imgs/a", {"src": "http://" + "a" * 2050}, ["body", "src"]),
        ("POST", "/imgs/a", {"src": SRC, "date": "2020-02-30"}, ["body", "date"]),
        ("POST", "/imgs/a", {"src": SRC, "date": "yesterday"}, ["body", "date"]),
        ("POST", "/imgs/a", {"src": SRC, "keywords": "not a list"}, ["body", "keywords"]),
        ("POST", "/imgs/a", {"src": SRC, "nsfw": "maybe"}, ["body", "nsfw"]),
        ("POST", "/imgs/a", {"src": SRC, "width": 3}, ["body", "width"]),
        ("POST", "/imgs/a", {"src": SRC, "id": "b"}, ["body", "id"]),
        ("PUT", "/imgs/a", {"title": "no src"}, ["body", "src"]),
        ("PATCH", "/imgs/a", {"src": None}, ["body", "src"]),
        ("POST", "/imgs", [{"id": "a", "src": SRC}, {"id": "a", "src": SRC}], ["body", 1, "id"]),
        ("POST", "/imgs", [{"src": SRC}], ["body", 0, "id"]),
        ("POST", "/imgs", [{"id": "a/b", "src": SRC}], ["body", 0, "id"]),
        ("POST", "/imgs", [{"id": " a", "src": SRC}], ["body", 0, "id"]),
        ("POST", "/imgs", [{"id": "a\u0007", "src": SRC}], ["body", 0, "id"]),
        ("POST", "/imgs", [{"id": "", "src": SRC}], ["body", 0, "id"]),
        ("POST", "/imgs", [{"id": "x" * 257, "src": SRC}], ["body", 0, "id"]),
        ("POST", "/imgs", [{"id": True, "src": SRC}], ["body", 0, "id"]),
        ("POST", "/imgs", [{"id": 1.5, "src": SRC}], ["body", 0, "id"]),
        ("POST", "/imgs", {"id": "a", "src": SRC}, ["body"]),
        ("DELETE", "/imgs", [{"id": "a", "src": SRC}], ["body", 0, "src"]),
        ("PUT", "/imgs", [{"id": 1, "title": "x"}], ["body", 0, "src"]),
    ],
)
def test_body_validation_names_the_field(
    api: Api, method: str, path: str, body: Any, loc: list[Any]
) -> None:
    assert loc in [entry[: len(loc)] for entry in detail_locs(api.request(method, path, json=body))]


@pytest.mark.parametrize(
    ("path", "loc"),
    [
        ("/imgs/a?wait=maybe", ["query", "wait"]),
        ("/imgs/a?lang=de", ["query", "lang"]),
        ("/imgs/%20a", ["path", "image_id"]),
        ("/imgs/a%0A", ["path", "image_id"]),
    ],
)
def test_query_and_path_validation(api: Api, path: str, loc: list[Any]) -> None:
    assert loc in detail_locs(api.post(path, json={"src": SRC}))


def test_malformed_json_is_422(api: Api) -> None:
    response = api.post(
        "/imgs/a", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422


def test_too_many_items(api: Api, settings: Any) -> None:
    items = [{"id": i} for i in range(settings.max_items + 1)]
    assert ["body"] in detail_locs(api.delete("/imgs", json=items))


def test_oversized_body_is_413(api: Api, settings: Any) -> None:
    huge = b"[" + b" " * settings.max_body_bytes + b"]"
    response = api.post("/imgs", content=huge, headers={"Content-Type": "application/json"})
    assert response.status_code == 413


def test_oversized_chunked_body_is_413(api: Api, settings: Any) -> None:
    """No Content-Length: the limit is enforced while the body streams in."""

    def chunks() -> Any:
        yield b"["
        for _ in range(settings.max_body_bytes // 1000 + 1):
            yield b" " * 1000
        yield b"]"

    response = api.post("/imgs", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413


def test_keys(api: Api) -> None:
    assert api.client.get("/ops").status_code == 401
    assert api.client.get("/ops", headers={"API-Key": "pxs_wrong"}).status_code == 401
    assert api.client.get("/health").status_code == 200
    assert api.get("/ops").status_code == 200


def test_unknown_ids_are_404(api: Api) -> None:
    assert api.get("/imgs/nope").status_code == 404
    assert api.get("/ops/123456").status_code == 404
    assert api.delete("/ops/123456").status_code == 404
    assert api.get("/ops/0").status_code == 422
