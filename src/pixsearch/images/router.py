"""/imgs write endpoints and GET /imgs/{image_id} (section 3 and 5 of the contract)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query
from fastapi.responses import JSONResponse
from pydantic import AfterValidator
from starlette.concurrency import run_in_threadpool

from pixsearch.deps import OrgDep, ResourcesDep
from pixsearch.images import service
from pixsearch.images.schemas import Accepted, BatchDelete, BatchImage, ImageBody, check_image_id
from pixsearch.images.writes import WriteFlags, batch_items, single_item, submit
from pixsearch.operations.answer import answer_write
from pixsearch.vocabulary.fields import READABLE_FIELDS
from pixsearch.vocabulary.operations import NewItem

router = APIRouter(tags=["images"])

ImageIdPath = Annotated[
    str, Path(description="The image's id.", max_length=256), AfterValidator(check_image_id)
]
FieldName = Literal[READABLE_FIELDS]  # type: ignore[valid-type]
Lang = Literal["en", "es", "pt", "fr", "ru"]
WRITE_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"description": "The finished operation (wait=true)."},
    202: {"model": Accepted},
}


async def write_flags(
    wait: Annotated[bool, Query(description="Answer when the operation has finished.")] = False,
    urgent: Annotated[bool, Query(description="Run before every non-urgent operation.")] = False,
    strict: Annotated[bool, Query(description="Fail on an id conflict.")] = False,
    subset: Annotated[bool, Query(description="Apply the items that succeed.")] = False,
    lang: Annotated[Lang, Query(description="Language of generated keywords.")] = "en",
) -> WriteFlags:
    return WriteFlags(wait=wait, urgent=urgent, strict=strict, subset=subset, lang=lang)


async def delete_flags(
    wait: Annotated[bool, Query(description="Answer when the operation has finished.")] = False,
    urgent: Annotated[bool, Query(description="Run before every non-urgent operation.")] = False,
    strict: Annotated[bool, Query(description="Fail on a missing id.")] = False,
    subset: Annotated[bool, Query(description="Apply the items that succeed.")] = False,
) -> WriteFlags:
    return WriteFlags(wait=wait, urgent=urgent, strict=strict, subset=subset)


WriteFlagsDep = Annotated[WriteFlags, Depends(write_flags)]
DeleteFlagsDep = Annotated[WriteFlags, Depends(delete_flags)]


async def _write(
    res: ResourcesDep, org_id: int, mode: str, items: list[NewItem], flags: WriteFlags
) -> JSONResponse:
    op_id = await submit(res, org_id, mode, items, flags)
    return await answer_write(res, org_id, op_id, mode, len(items), flags.wait)


@router.post("/imgs/{image_id}", responses=WRITE_ANSWERS, summary="Add an image")
async def add_image(
    image_id: ImageIdPath, body: ImageBody, org: OrgDep, res: ResourcesDep, flags: WriteFlagsDep
) -> JSONResponse:
    return await _write(res, org.id, "add", single_item("add", image_id, body), flags)


@router.post("/imgs", responses=WRITE_ANSWERS, summary="Add images")
async def add_images(
    body: list[BatchImage], org: OrgDep, res: ResourcesDep, flags: WriteFlagsDep
) -> JSONResponse:
    items = batch_items("add", body, res.settings.max_items)
    return await _write(res, org.id, "add", items, flags)


@router.put("/imgs/{image_id}", responses=WRITE_ANSWERS, summary="Replace an image")
async def replace_image(
    image_id: ImageIdPath, body: ImageBody, org: OrgDep, res: ResourcesDep, flags: WriteFlagsDep
) -> JSONResponse:
    return await _write(res, org.id, "put", single_item("put", image_id, body), flags)


@router.put("/imgs", responses=WRITE_ANSWERS, summary="Replace images")
async def replace_images(
    body: list[BatchImage], org: OrgDep, res: ResourcesDep, flags: WriteFlagsDep
) -> JSONResponse:
    items = batch_items("put", body, res.settings.max_items)
    return await _write(res, org.id, "put", items, flags)


@router.patch("/imgs/{image_id}", responses=WRITE_ANSWERS, summary="Update an image")
async def update_image(
    image_id: ImageIdPath, body: ImageBody, org: OrgDep, res: ResourcesDep, flags: WriteFlagsDep
) -> JSONResponse:
    return await _write(res, org.id, "patch", single_item("patch", image_id, body), flags)


@router.patch("/imgs", responses=WRITE_ANSWERS, summary="Update images")
async def update_images(
    body: list[BatchImage], org: OrgDep, res: ResourcesDep, flags: WriteFlagsDep
) -> JSONResponse:
    items = batch_items("patch", body, res.settings.max_items)
    return await _write(res, org.id, "patch", items, flags)


@router.delete("/imgs/{image_id}", responses=WRITE_ANSWERS, summary="Delete an image")
async def delete_image(
    image_id: ImageIdPath, org: OrgDep, res: ResourcesDep, flags: DeleteFlagsDep
) -> JSONResponse:
    return await _write(res, org.id, "del", single_item("del", image_id, None), flags)


@router.delete("/imgs", responses=WRITE_ANSWERS, summary="Delete images")
async def delete_images(
    body: Annotated[list[BatchDelete], Body()],
    org: OrgDep,
    res: ResourcesDep,
    flags: DeleteFlagsDep,
) -> JSONResponse:
    items = batch_items("del", body, res.settings.max_items)
    return await _write(res, org.id, "del", items, flags)


@router.get("/imgs/{image_id}", summary="Read an image")
async def read_image(
    image_id: ImageIdPath,
    org: OrgDep,
    res: ResourcesDep,
    fields: Annotated[list[FieldName] | None, Query(description="Fields to return.")] = None,
) -> dict[str, object]:
    return await run_in_threadpool(_read, res, org.id, image_id, fields)


def _read(
    res: ResourcesDep, org_id: int, image_id: str, fields: list[str] | None
) -> dict[str, object]:
    with res.engine.connect() as conn:
        return service.get_image(conn, org_id, image_id, fields)
