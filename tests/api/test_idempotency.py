"""Idempotency-Key on every write endpoint, on both engines: a repeat answers as the first
did and queues nothing, another request with the key is a 422, keys are per organisation."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.conftest import Api

KEY = {"Idempotency-Key": "import-run-1:batch-0"}


def operation_ids(api: Api) -> list[int]:
    return [op["op_id"] for op in api.get("/ops", params={"limit": 1000}).json()]


WRITES: list[tuple[str, str, Any]] = [
    ("POST", "/imgs/a", {"src": "http://127.0.0.1:9/a.jpg"}),
    ("POST", "/imgs", [{"id": "a", "src": "http://127.0.0.1:9/a.jpg"}]),
    ("PUT", "/imgs/a", {"src": "http://127.0.0.1:9/a.jpg"}),
    ("PUT", "/imgs", [{"id": "a", "src": "http://127.0.0.1:9/a.jpg"}]),
    ("PATCH", "/imgs/a", {"title": "t"}),
    ("PATCH", "/imgs", [{"id": "a", "title": "t"}]),
    ("DELETE", "/imgs/a", None),
    ("DELETE", "/imgs", [{"id": "a"}]),
]


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_every_write_endpoint_answers_a_repeat_with_the_first_operation(
    api: Api, method: str, path: str, body: Any
) -> None:
    first = api.request(method, path, json=body, headers=KEY)
    again = api.request(method, path, json=body, headers=KEY)
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert operation_ids(api) == [first.json()["operation_id"]]


def test_repeat_with_wait_answers_200_with_the_operation_now(
    api: Api, image_url: Callable[..., str]
) -> None:
    body = {"src": image_url(1)}
    first = api.post("/imgs/a", json=body, headers=KEY).json()
    op = api.post("/imgs/a", params={"wait": "true"}, json=body, headers=KEY)
    assert op.status_code == 200
    assert op.json()["op_id"] == first["operation_id"] and op.json()["is_finished"] is True
    assert op.json()["do_wait"] is False  # the first request's operation, as it was queued
    assert operation_ids(api) == [first["operation_id"]]


@pytest.mark.parametrize(
    ("path", "params", "body"),
    [
        ("/imgs/a", {}, {"src": "http://127.0.0.1:9/b.jpg"}),  # another body
        ("/imgs/b", {}, {"src": "http://127.0.0.1:9/a.jpg"}),  # another image
        ("/imgs/a", {"strict": "true"}, {"src": "http://127.0.0.1:9/a.jpg"}),  # another flag
        ("/imgs/a", {"lang": "fr"}, {"src": "http://127.0.0.1:9/a.jpg"}),
    ],
)
def test_same_key_with_another_request_is_a_422_that_says_so(
    api: Api, path: str, params: dict[str, str], body: dict[str, str]
) -> None:
    first = api.post("/imgs/a", json={"src": "http://127.0.0.1:9/a.jpg"}, headers=KEY).json()
    response = api.post(path, params=params, json=body, headers=KEY)
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["header", "Idempotency-Key"]
    assert "different request" in error["msg"] and str(first["operation_id"]) in error["msg"]
    assert operation_ids(api) == [first["operation_id"]]


def test_another_verb_with_the_key_is_another_request(api: Api) -> None:
    api.patch("/imgs/a", json={"title": "t"}, headers=KEY)
    assert api.put("/imgs/a", json={"title": "t", "src": "http://h.test/a"}, headers=KEY).json()[
        "detail"
    ][0]["loc"] == ["header", "Idempotency-Key"]


def test_keys_are_per_organisation(api: Api, other_api: Api) -> None:
    body = {"title": "t"}
    mine = api.patch("/imgs/a", json=body, headers=KEY).json()["operation_id"]
    theirs = other_api.patch("/imgs/a", json=body, headers=KEY).json()["operation_id"]
    assert mine != theirs
    assert operation_ids(api) == [mine] and operation_ids(other_api) == [theirs]


def test_without_a_key_every_request_is_a_new_operation(api: Api) -> None:
    for _ in range(2):
        api.patch("/imgs/a", json={"title": "t"})
    assert len(operation_ids(api)) == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "é-not-ascii"])
def test_malformed_keys_are_a_422_naming_the_header(api: Api, key: str) -> None:
    response = api.request(
        "PATCH", "/imgs/a", json={"title": "t"}, headers={"Idempotency-Key": key.encode()}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert operation_ids(api) == []


def test_longest_key_and_spaces_are_accepted(api: Api) -> None:
    for key in ("k" * 255, "a key with spaces ~!@#"):
        assert api.patch("/imgs/a", json={}, headers={"Idempotency-Key": key}).status_code == 202


def test_racing_identical_requests_in_one_process_create_one_operation(api: Api) -> None:
    """Requests that arrive together share one enqueue transaction: the key dedupes there."""
    body = [{"id": f"img{n}", "title": "t"} for n in range(50)]

    def send(_: int) -> Any:
        return api.patch("/imgs", json=body, headers=KEY)

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(send, range(32)))
    assert {answer.status_code for answer in answers} == {202}
    assert len({answer.json()["operation_id"] for answer in answers}) == 1
    assert len(operation_ids(api)) == 1
