"""/imgs write endpoints and GET /imgs/{image_id} (section 3 and 5 of the contract)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Header, Path, Query
from fastapi.responses import JSONResponse, Response
from pydantic import AfterValidator

from pixsearch.deps import OrgDep, ReadConnDep, SettingsDep, SubmitterDep
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
from pixsearch.images.writes import Submitter, WriteFlags, batch_items, single_item
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


async def write_flags(
    query: Annotated[WriteQuery, Query()], idempotency_key: IdempotencyKeyHeader = None
) -> WriteFlags:
    return WriteFlags(**query.__dict__, idempotency_key=idempotency_key)


async def delete_flags(
    query: Annotated[DeleteQuery, Query()], idempotency_key: IdempotencyKeyHeader = None
) -> WriteFlags:
    return WriteFlags(**query.__dict__, idempotency_key=idempotency_key)


WriteFlagsDep = Annotated[WriteFlags, Depends(write_flags)]
DeleteFlagsDep = Annotated[WriteFlags, Depends(delete_flags)]


async def write_answer(
    submitter: Submitter, org_id: int, mode: Mode, items: list[NewItem], flags: WriteFlags
) -> Response:
    answer = await submitter.submit(org_id, mode, items, flags)
    status = 202 if isinstance(answer, Accepted) else 200
    return JSONResponse(answer.model_dump(mode="json"), status_code=status)


@router.post("/imgs/{image_id}", responses=WRITE_ANSWERS, summary="Add an image")
async def add_image(
    image_id: ImageIdPath,
    body: NewImageBody,
    org: OrgDep,
    submitter: SubmitterDep,
    flags: WriteFlagsDep,
) -> Response:
    return await write_answer(
        submitter, org.id, Mode.ADD, single_item(Mode.ADD, image_id, body), flags
    )


@router.post("/imgs", responses=WRITE_ANSWERS, summary="Add images")
async def add_images(
    body: list[NewBatchImage],
    org: OrgDep,
    submitter: SubmitterDep,
    settings: SettingsDep,
    flags: WriteFlagsDep,
) -> Response:
    items = batch_items(Mode.ADD, body, settings.max_items)
    return await write_answer(submitter, org.id, Mode.ADD, items, flags)


@router.put("/imgs/{image_id}", responses=WRITE_ANSWERS, summary="Replace an image")
async def replace_image(
    image_id: ImageIdPath,
    body: NewImageBody,
    org: OrgDep,
    submitter: SubmitterDep,
    flags: WriteFlagsDep,
) -> Response:
    return await write_answer(
        submitter, org.id, Mode.PUT, single_item(Mode.PUT, image_id, body), flags
    )


@router.put("/imgs", responses=WRITE_ANSWERS, summary="Replace images")
async def replace_images(
    body: list[NewBatchImage],
    org: OrgDep,
    submitter: SubmitterDep,
    settings: SettingsDep,
    flags: WriteFlagsDep,
) -> Response:
    items = batch_items(Mode.PUT, body, settings.max_items)
    return await write_answer(submitter, org.id, Mode.PUT, items, flags)


@router.patch("/imgs/{image_id}", responses=WRITE_ANSWERS, summary="Update an image")
async def update_image(
    image_id: ImageIdPath,
    body: ImageBody,
    org: OrgDep,
    submitter: SubmitterDep,
    flags: WriteFlagsDep,
) -> Response:
    return await write_answer(
        submitter, org.id, Mode.PATCH, single_item(Mode.PATCH, image_id, body), flags
    )


@router.patch("/imgs", responses=WRITE_ANSWERS, summary="Update images")
async def update_images(
    body: list[BatchImage],
    org: OrgDep,
    submitter: SubmitterDep,
    settings: SettingsDep,
    flags: WriteFlagsDep,
) -> Response:
    items = batch_items(Mode.PATCH, body, settings.max_items)
    return await write_answer(submitter, org.id, Mode.PATCH, items, flags)


@router.delete("/imgs/{image_id}", responses=WRITE_ANSWERS, summary="Delete an image")
async def delete_image(
    image_id: ImageIdPath, org: OrgDep, submitter: SubmitterDep, flags: DeleteFlagsDep
) -> Response:
    return await write_answer(
        submitter, org.id, Mode.DEL, single_item(Mode.DEL, image_id, None), flags
    )


@router.delete("/imgs", responses=WRITE_ANSWERS, summary="Delete images")
async def delete_images(
    body: Annotated[list[BatchDelete], Body()],
    org: OrgDep,
    submitter: SubmitterDep,
    settings: SettingsDep,
    flags: DeleteFlagsDep,
) -> Response:
    items = batch_items(Mode.DEL, body, settings.max_items)
    return await write_answer(submitter, org.id, Mode.DEL, items, flags)


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
