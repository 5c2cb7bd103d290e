"""/imgs write endpoints and GET /imgs/{image_id} (section 3 and 5 of the contract)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import AfterValidator, StringConstraints, TypeAdapter

from pixsearch.deps import (
    API_KEY_HEADER,
    OrgDep,
    ReadConnDep,
    SettingsDep,
    organisation_of,
    submitter_of,
)
from pixsearch.images import service
from pixsearch.images.schemas import (
    Accepted,
    BatchDelete,
    BatchImage,
    DeleteQuery,
    Image,
    ImageBody,
    NewBatchImage,
    NewImageBody,
    WriteQuery,
    check_image_id,
)
from pixsearch.images.writes import Write, WriteFlags, batch_items, single_item
from pixsearch.lean_route import LeanRoute, validated
from pixsearch.operations.idempotency import KEY_HEADER, KEY_PATTERN
from pixsearch.operations.schemas import Operation
from pixsearch.schemas import error_answers, query_parameters
from pixsearch.vocabulary.fields import FieldName
from pixsearch.vocabulary.operations import Mode, NewItem

router = APIRouter(tags=["images"])
# The writes: their requests, the hot path of acceptance, bypass FastAPI's generic handler
# (pixsearch.lean_route).
writes = APIRouter(tags=["images"], route_class=LeanRoute)

ImageIdPath = Annotated[
    str, Path(description="The image's id.", max_length=256), AfterValidator(check_image_id)
]
WRITE_ANSWERS = {
    200: {"model": Operation, "description": "The finished operation (wait=true)."},
    202: {"model": Accepted, "description": "Queued; poll GET /ops/{operation_id}."},
    **error_answers(401, 413, 422),
}
KEY_DESCRIPTION = (
    "1-255 printable characters. A repeat with the same key and request creates no "
    "operation and answers with the first one's (PIXSEARCH_IDEMPOTENCY_RETENTION_H); the "
    "same key with another request is a 422."
)
KEY_FORMAT = TypeAdapter(Annotated[str, StringConstraints(pattern=KEY_PATTERN)])
WRITE_QUERY = TypeAdapter(WriteQuery)
DELETE_QUERY = TypeAdapter(DeleteQuery)
# What an empty query string means, validated once: most writes send no flags.
NO_FLAGS = {query: query.validate_python({}) for query in (WRITE_QUERY, DELETE_QUERY)}


def read_parameters(query: type[DeleteQuery]) -> dict[str, Any]:
    """The `openapi_extra` of a write route: what `write_from` reads, which FastAPI
    neither parses nor lists itself."""
    header = {"name": KEY_HEADER, "in": "header", "required": False}
    schema = {"type": "string", "pattern": KEY_PATTERN, "title": KEY_HEADER}
    return {
        "parameters": [
            *query_parameters(query),
            {**header, "description": KEY_DESCRIPTION, "schema": schema},
        ],
        "security": [{API_KEY_HEADER.scheme_name: []}],
    }


# The keyword arguments of a write route's and a delete route's decorator.
WRITE_ROUTE: dict[str, Any] = {
    "responses": WRITE_ANSWERS,
    "openapi_extra": read_parameters(WriteQuery),
}
DELETE_ROUTE: dict[str, Any] = {
    "responses": WRITE_ANSWERS,
    "openapi_extra": read_parameters(DeleteQuery),
}


async def write_from(request: Request, query: TypeAdapter[Any]) -> Write:
    """The caller's organisation, the write's query flags and its Idempotency-Key, in one
    pass over the request. Declared as FastAPI parameters, the three cost a write more
    CPU than the rest of its acceptance (bench/writes.py). The API key is checked first,
    as FastAPI would; a bad flag or Idempotency-Key is the 422 FastAPI gives, found
    before the body is validated (so a request with both is told of the flags first)."""
    org = await organisation_of(request, request.headers.get(API_KEY_HEADER.model.name))
    problems: list[dict[str, Any]] = []
    if request.scope["query_string"]:
        # A dict validates twice as fast as the query's own mapping; a repeated
        # parameter's last value counts, as in FastAPI.
        flags = validated(query, dict(request.query_params), ("query",), problems)
    else:
        flags = NO_FLAGS[query]
    key = request.headers.get(KEY_HEADER)
    if key is not None:
        validated(KEY_FORMAT, key, ("header", KEY_HEADER), problems)
    if problems:
        raise RequestValidationError(problems)
    return Write(org.id, WriteFlags(**flags.__dict__, idempotency_key=key), submitter_of(request))


async def write_request(request: Request) -> Write:
    return await write_from(request, WRITE_QUERY)


async def delete_request(request: Request) -> Write:
    return await write_from(request, DELETE_QUERY)


WriteDep = Annotated[Write, Depends(write_request)]
DeleteDep = Annotated[Write, Depends(delete_request)]


async def write_answer(write: Write, mode: Mode, items: list[NewItem]) -> Response:
    answer = await write.submit(mode, items)
    status = 202 if isinstance(answer, Accepted) else 200
    # Serialised by pydantic itself: half the CPU of its dict through json.dumps.
    return Response(answer.model_dump_json(), status_code=status, media_type="application/json")


@writes.post("/imgs/{image_id}", **WRITE_ROUTE, summary="Add an image")
async def add_image(image_id: ImageIdPath, body: NewImageBody, write: WriteDep) -> Response:
    return await write_answer(write, Mode.ADD, single_item(Mode.ADD, image_id, body))


@writes.post("/imgs", **WRITE_ROUTE, summary="Add images")
async def add_images(body: list[NewBatchImage], write: WriteDep, settings: SettingsDep) -> Response:
    items = batch_items(Mode.ADD, body, settings.max_items)
    return await write_answer(write, Mode.ADD, items)


@writes.put("/imgs/{image_id}", **WRITE_ROUTE, summary="Replace an image")
async def replace_image(image_id: ImageIdPath, body: NewImageBody, write: WriteDep) -> Response:
    return await write_answer(write, Mode.PUT, single_item(Mode.PUT, image_id, body))


@writes.put("/imgs", **WRITE_ROUTE, summary="Replace images")
async def replace_images(
    body: list[NewBatchImage], write: WriteDep, settings: SettingsDep
) -> Response:
    items = batch_items(Mode.PUT, body, settings.max_items)
    return await write_answer(write, Mode.PUT, items)


@writes.patch("/imgs/{image_id}", **WRITE_ROUTE, summary="Update an image")
async def update_image(image_id: ImageIdPath, body: ImageBody, write: WriteDep) -> Response:
    return await write_answer(write, Mode.PATCH, single_item(Mode.PATCH, image_id, body))


@writes.patch("/imgs", **WRITE_ROUTE, summary="Update images")
async def update_images(body: list[BatchImage], write: WriteDep, settings: SettingsDep) -> Response:
    items = batch_items(Mode.PATCH, body, settings.max_items)
    return await write_answer(write, Mode.PATCH, items)


@writes.delete("/imgs/{image_id}", **DELETE_ROUTE, summary="Delete an image")
async def delete_image(image_id: ImageIdPath, write: DeleteDep) -> Response:
    return await write_answer(write, Mode.DEL, single_item(Mode.DEL, image_id, None))


@writes.delete("/imgs", **DELETE_ROUTE, summary="Delete images")
async def delete_images(
    body: Annotated[list[BatchDelete], Body()], write: DeleteDep, settings: SettingsDep
) -> Response:
    items = batch_items(Mode.DEL, body, settings.max_items)
    return await write_answer(write, Mode.DEL, items)


@router.get(
    "/imgs/{image_id}",
    response_model=Image,
    response_model_exclude_unset=True,
    responses=error_answers(401, 404, 422),
    summary="Read an image",
)
def read_image(
    image_id: ImageIdPath,
    org: OrgDep,
    conn: ReadConnDep,
    fields: Annotated[list[FieldName] | None, Query(description="Fields to return.")] = None,
) -> Image:
    return Image.model_validate(service.get_image(conn, org.id, image_id, fields))
