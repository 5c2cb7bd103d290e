"""The OpenAPI document tells the truth: real answer schemas, error answers, required src."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from fastapi import FastAPI, Query
from fastapi.testclient import TestClient
from pydantic import BaseModel

from pixsearch.images.schemas import DeleteQuery, WriteQuery
from tests.conftest import Api

API_ROUTES = [
    ("post", "/imgs/{image_id}"),
    ("post", "/imgs"),
    ("put", "/imgs/{image_id}"),
    ("put", "/imgs"),
    ("patch", "/imgs/{image_id}"),
    ("patch", "/imgs"),
    ("delete", "/imgs/{image_id}"),
    ("delete", "/imgs"),
    ("get", "/imgs/{image_id}"),
    ("get", "/imgs"),
    ("get", "/ops/{op_id}"),
    ("get", "/ops"),
    ("delete", "/ops/{op_id}"),
]


@pytest.fixture
def document(client: TestClient) -> dict[str, Any]:
    schema: dict[str, Any] = client.get("/openapi.json").json()
    return schema


def answer_ref(operation: dict[str, Any], status: str) -> str:
    return str(operation["responses"][status]["content"]["application/json"]["schema"])


def resolve(document: dict[str, Any], ref: str) -> dict[str, Any]:
    found: dict[str, Any] = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return found


@pytest.mark.parametrize(("method", "path"), API_ROUTES)
def test_every_endpoint_declares_its_errors(
    document: dict[str, Any], method: str, path: str
) -> None:
    operation = document["paths"][path][method]
    assert {"401", "422"} <= set(operation["responses"])
    assert "Message" in answer_ref(operation, "401")
    if path == "/ops/{op_id}" or (method == "get" and "{" in path):
        assert "Message" in answer_ref(operation, "404")
    if method in ("post", "put", "patch", "delete") and path.startswith("/imgs"):
        assert "413" in operation["responses"]
        assert "Operation" in answer_ref(operation, "200")
        assert "Accepted" in answer_ref(operation, "202")


@pytest.mark.parametrize(
    ("method", "path", "query"),
    [
        ("post", "/imgs/{image_id}", WriteQuery),
        ("patch", "/imgs", WriteQuery),
        ("delete", "/imgs/{image_id}", DeleteQuery),
        ("put", "/celebs/{name}", WriteQuery),
        ("delete", "/celebs/{name}", DeleteQuery),
    ],
)
def test_write_routes_document_what_they_read_themselves(
    document: dict[str, Any], method: str, path: str, query: type[BaseModel]
) -> None:
    """FastAPI does not parse a write's flags, key or Idempotency-Key (write_from does), so
    it would not list them: the route lists them as FastAPI would for the query model."""

    def flags(params: Any) -> None:
        return None

    flags.__annotations__["params"] = Annotated[query, Query()]  # a real type, not a string
    bare = FastAPI()
    bare.post("/")(flags)
    expected = bare.openapi()["paths"]["/"]["post"]["parameters"]
    operation = document["paths"][path][method]
    by_place = {(entry["in"], entry["name"]): entry for entry in operation["parameters"]}
    assert [by_place[("query", entry["name"])] for entry in expected] == expected
    assert ("header", "Idempotency-Key") in by_place
    assert operation["security"] == [{"API-Key": []}]


def test_answers_have_their_schemas(document: dict[str, Any]) -> None:
    paths = document["paths"]
    assert "Image" in answer_ref(paths["/imgs/{image_id}"]["get"], "200")
    assert "SearchAnswer" in answer_ref(paths["/imgs"]["get"], "200")
    assert "Operation" in answer_ref(paths["/ops/{op_id}"]["get"], "200")
    assert "409" in paths["/ops/{op_id}"]["delete"]["responses"]
    problems = resolve(document, "#/components/schemas/Problems")
    assert problems["properties"]["detail"]["type"] == "array"


@pytest.mark.parametrize(
    ("method", "path"), [("post", "/imgs/{image_id}"), ("put", "/imgs/{image_id}")]
)
def test_src_is_required_where_the_contract_requires_it(
    document: dict[str, Any], method: str, path: str
) -> None:
    body = document["paths"][path][method]["requestBody"]["content"]["application/json"]
    assert "src" in resolve(document, body["schema"]["$ref"]).get("required", [])
    patch = document["paths"][path]["patch"]["requestBody"]["content"]["application/json"]
    assert "src" not in resolve(document, patch["schema"]["$ref"]).get("required", [])


def test_batch_bodies_require_src_for_add_and_replace(document: dict[str, Any]) -> None:
    for method, required in (("post", True), ("put", True), ("patch", False)):
        body = document["paths"]["/imgs"][method]["requestBody"]["content"]["application/json"]
        item = resolve(document, body["schema"]["items"]["$ref"])
        assert ("src" in item.get("required", [])) is required


def test_answers_match_their_schemas(api: Api, image_url: Any) -> None:
    """What is returned validates against what is declared (the schemas are not decoration)."""
    written = api.post("/imgs/a?wait=true", json={"src": image_url(1), "title": "A"})
    assert written.status_code == 200 and written.json()["is_finished"]
    queued = api.post("/imgs/b", json={"src": image_url(2)})
    assert queued.status_code == 202 and set(queued.json()) == {"operation_id", "n_total", "msg"}
    assert api.get("/imgs/a", params={"fields": ["title"]}).json() == {"title": "A"}
    found = api.get("/imgs", params={"q": "", "fields": ["image_id"]}).json()
    assert {"results", "count", "facets"} == set(found)
    assert all(set(hit) == {"image_id"} for hit in found["results"])
