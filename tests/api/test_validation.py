"""Bad input: a 422 in FastAPI's shape naming the field, 401, 404, 413 — never a 5xx."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.imageserver import ImageServer

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


@pytest.mark.parametrize(
    ("method", "path", "loc", "type_"),
    [
        ("PUT", "/imgs/a?urgent=2", ["query", "urgent"], "bool_parsing"),
        ("PATCH", "/imgs?strict=maybe", ["query", "strict"], "bool_parsing"),
        ("DELETE", "/imgs/a?subset=x", ["query", "subset"], "bool_parsing"),
        ("DELETE", "/imgs?wait=", ["query", "wait"], "bool_parsing"),
        ("POST", "/celebs/Ada?lang=xx", ["query", "lang"], "literal_error"),
        ("DELETE", "/celebs/Ada?urgent=no-thanks", ["query", "urgent"], "bool_parsing"),
    ],
)
def test_every_write_route_checks_its_flags(
    api: Api, method: str, path: str, loc: list[Any], type_: str
) -> None:
    """The write routes read their flags themselves (images/router.write_from): each bad
    one is FastAPI's own 422, naming it; and the key is checked before them."""
    body = [{"id": "a", "src": SRC}] if path.startswith("/imgs?") else {"src": SRC}
    response = api.request(method, path, json=None if method == "DELETE" else body)
    (entry,) = response.json()["detail"]
    assert response.status_code == 422 and entry["loc"] == loc and entry["type"] == type_
    assert api.client.request(method, path).status_code == 401


def test_malformed_json_is_422(api: Api) -> None:
    response = api.post(
        "/imgs/a", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422


def test_too_many_items(api: Api, settings: Any) -> None:
    items = [{"id": i} for i in range(settings.max_items + 1)]
    assert ["body"] in detail_locs(api.delete("/imgs", json=items))


def assert_json_413(response: Any, settings: Any) -> None:
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/json"
    limit = settings.max_body_bytes
    assert response.json() == {
        "detail": f"request body too large: more than {limit} bytes (PIXSEARCH_MAX_BODY_BYTES)"
    }


def test_oversized_body_is_413(api: Api, settings: Any) -> None:
    huge = b"[" + b" " * settings.max_body_bytes + b"]"
    response = api.post("/imgs", content=huge, headers={"Content-Type": "application/json"})
    assert_json_413(response, settings)
    # Refused from Content-Length alone, before authentication reads anything.
    anonymous = api.client.post("/imgs", content=huge)
    assert_json_413(anonymous, settings)


def test_oversized_chunked_body_is_413(api: Api, settings: Any) -> None:
    """No Content-Length: the limit is enforced while the body streams in."""

    def chunks() -> Any:
        yield b"["
        for _ in range(settings.max_body_bytes // 1000 + 1):
            yield b" " * 1000
        yield b"]"

    response = api.post("/imgs", content=chunks(), headers={"Content-Type": "application/json"})
    assert_json_413(response, settings)


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


@pytest.mark.parametrize(
    ("method", "path", "loc"),
    [
        ("GET", "/ops/99999999999999999999", ["path", "op_id"]),
        ("GET", "/ops/9223372036854775808", ["path", "op_id"]),
        ("DELETE", "/ops/9223372036854775809", ["path", "op_id"]),
        ("GET", "/ops?page=4611686018427387904", ["query", "page"]),
        ("GET", "/ops?page=1000000001&limit=1000", ["query", "page"]),
    ],
)
def test_integers_beyond_64_bits_are_422_not_500(
    api: Api, method: str, path: str, loc: list[Any]
) -> None:
    assert loc in detail_locs(api.request(method, path))


def test_the_largest_operation_id_is_just_missing(api: Api) -> None:
    assert api.get("/ops/2147483647").status_code == 404
    assert ["path", "op_id"] in detail_locs(api.get("/ops/2147483648"))
    assert api.get("/ops?page=1000000000&limit=1000").json() == []


@pytest.mark.parametrize("body", [b"\x80abc", b'{"src": "\xff"}', b'[{"id": "a\xc3"}]'])
def test_a_body_that_is_not_utf8_is_422_in_the_list_shape(api: Api, body: bytes) -> None:
    response = api.post("/imgs/a", content=body, headers={"Content-Type": "application/json"})
    (entry,) = response.json()["detail"]
    assert response.status_code == 422
    assert entry["type"] == "json_invalid" and entry["loc"][0] == "body"
    assert "not valid UTF-8" in entry["msg"]


@pytest.mark.parametrize("number", [b"1e999", b"-1e999", b"NaN", b"Infinity", b"-Infinity"])
@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [  # a single-image write, and a person write
        ("/imgs/a", b'{"src": "http://h/a.jpg", "title": %s}', ["body", "title"]),
        ("/celebs/ann", b'{"faces": [%s]}', ["body", "faces", 0]),
    ],
)
def test_a_number_json_cannot_write_is_named_in_a_422_not_a_500(
    api: Api, path: str, body: bytes, loc: list[Any], number: bytes
) -> None:
    """Python's JSON reader takes these, but the 422 that quotes them cannot be JSON."""
    response = api.post(path, content=body % number, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    (entry,) = response.json()["detail"]
    assert entry["loc"] == loc and entry["input"] is None


@pytest.mark.parametrize(
    ("path", "allowed"),
    [("/ops/1", "DELETE, GET"), ("/imgs", "DELETE, GET, PATCH, POST, PUT"), ("/ops", "GET")],
)
def test_a_method_the_path_lacks_is_405_naming_every_method_it_has(
    api: Api, path: str, allowed: str
) -> None:
    response = api.request("OPTIONS", path)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    assert response.json() == {"detail": "Method Not Allowed"}


def test_a_decompression_bomb_cites_the_configured_pixel_limit(
    api: Api, settings: Any, image_server: ImageServer
) -> None:
    response = api.post(
        "/imgs/bomb", params={"wait": "true"}, json={"src": image_server.url("/bomb")}
    )
    (error,) = response.json()["errors"]
    assert error["msg"] == (
        f"too many pixels: 900000000 pixels is more than {settings.max_pixels} "
        "(PIXSEARCH_MAX_PIXELS)"
    )
