"""/imgs write endpoints and GET /imgs/{image_id} (section 3 and 5 of the contract)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import AfterValidator

from pixsearch.deps import OrgDep, ReadConnDep, SettingsDep, submitter_of
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
from pixsearch.operations.idempotency import KEY_HEADER, KEY_PATTERN
from pixsearch.operations.schemas import Operation
from pixsearch.schemas import error_answers
from pixsearch.vocabulary.fields import FieldName
from pixsearch.vocabulary.operations import Mode, NewItem

router = APIRouter(tags=["images"])

ImageIdPath = Annotated[
    str, Path(description="The image's id.", max_length=256), AfterValidator(check_image_id)
]
WRITE_ANSWERS = {
    200: {"model": Operation, "description": "The finished operation (wait=true)."},
    202: {"model": Accepted, "description": "Queued; poll GET /ops/{operation_id}."},
    **error_answers(401, 413, 422),
}
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias=KEY_HEADER,
        pattern=KEY_PATTERN,
        description="1-255 printable characters. A repeat with the same key and request "
        "creates no operation and answers with the first one's (PIXSEARCH_IDEMPOTENCY_"
        "RETENTION_H); the same key with another request is a 422.",
    ),
]


async def write_request(
    request: Request,
    org: OrgDep,
    query: Annotated[WriteQuery, Query()],
    idempotency_key: IdempotencyKeyHeader = None,
) -> Write:
    flags = WriteFlags(**query.__dict__, idempotency_key=idempotency_key)
    return Write(org.id, flags, submitter_of(request))


async def delete_request(
    request: Request,
    org: OrgDep,
    query: Annotated[DeleteQuery, Query()],
    idempotency_key: IdempotencyKeyHeader = None,
) -> Write:
    flags = WriteFlags(**query.__dict__, idempotency_key=idempotency_key)
    return Write(org.id, flags, submitter_of(request))


WriteDep = Annotated[Write, Depends(write_request)]
DeleteDep = Annotated[Write, Depends(delete_request)]


async def write_answer(write: Write, mode: Mode, items: list[NewItem]) -> Response:
    answer = await write.submit(mode, items)
    status = 202 if isinstance(answer, Accepted) else 200
    return JSONResponse(answer.model_dump(mode="json"), status_code=status)


@router.post("/imgs/{image_id}", responses=WRITE_ANSWERS, summary="Add an image")
async def add_image(image_id: ImageIdPath, body: NewImageBody, write: WriteDep) -> Response:
    return await write_answer(write, Mode.ADD, single_item(Mode.ADD, image_id, body))


@router.post("/imgs", responses=WRITE_ANSWERS, summary="Add images")
async def add_images(body: list[NewBatchImage], write: WriteDep, settings: SettingsDep) -> Response:
    items = batch_items(Mode.ADD, body, settings.max_items)
    return await write_answer(write, Mode.ADD, items)


@router.put("/imgs/{image_id}", responses=WRITE_ANSWERS, summary="Replace an image")
async def replace_image(image_id: ImageIdPath, body: NewImageBody, write: WriteDep) -> Response:
    return await write_answer(write, Mode.PUT, single_item(Mode.PUT, image_id, body))


@router.put("/imgs", responses=WRITE_ANSWERS, summary="Replace images")
async def replace_images(
    body: list[NewBatchImage], write: WriteDep, settings: SettingsDep
) -> Response:
    items = batch_items(Mode.PUT, body, settings.max_items)
    return await write_answer(write, Mode.PUT, items)


@router.patch("/imgs/{image_id}", responses=WRITE_ANSWERS, summary="Update an image")
async def update_image(image_id: ImageIdPath, body: ImageBody, write: WriteDep) -> Response:
    return await write_answer(write, Mode.PATCH, single_item(Mode.PATCH, image_id, body))


@router.patch("/imgs", responses=WRITE_ANSWERS, summary="Update images")
async def update_images(body: list[BatchImage], write: WriteDep, settings: SettingsDep) -> Response:
    items = batch_items(Mode.PATCH, body, settings.max_items)
    return await write_answer(write, Mode.PATCH, items)


@router.delete("/imgs/{image_id}", responses=WRITE_ANSWERS, summary="Delete an image")
async def delete_image(image_id: ImageIdPath, write: DeleteDep) -> Response:
    return await write_answer(write, Mode.DEL, single_item(Mode.DEL, image_id, None))


@router.delete("/imgs", responses=WRITE_ANSWERS, summary="Delete images")
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
