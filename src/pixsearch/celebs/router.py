"""/celebs: named people. Writes are operations (`resource: "celebs"`), reads are direct."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import Response
from pydantic import AfterValidator

from pixsearch.celebs import service
from pixsearch.celebs.schemas import Celeb, CelebBody, check_name
from pixsearch.deps import OrgDep, ReadConnDep
from pixsearch.images.router import DELETE_ROUTE, WRITE_ROUTE, DeleteDep, WriteDep, write_answer
from pixsearch.schemas import error_answers
from pixsearch.vocabulary.operations import Mode, NewItem

router = APIRouter(tags=["celebs"])

NamePath = Annotated[
    str, Path(description="The person's name.", max_length=200), AfterValidator(check_name)
]


def person(name: str, body: CelebBody | None) -> list[NewItem]:
    return [NewItem(name, name, None if body is None else body.model_dump())]


@router.post("/celebs/{name}", **WRITE_ROUTE, summary="Register or extend a person")
async def add_celeb(name: NamePath, body: CelebBody, write: WriteDep) -> Response:
    return await write_answer(write, Mode.CEL_ADD, person(name, body))


@router.put("/celebs/{name}", **WRITE_ROUTE, summary="Replace a person's faces")
async def replace_celeb(name: NamePath, body: CelebBody, write: WriteDep) -> Response:
    return await write_answer(write, Mode.CEL_PUT, person(name, body))


@router.delete("/celebs/{name}", **DELETE_ROUTE, summary="Remove a person")
async def delete_celeb(name: NamePath, write: DeleteDep) -> Response:
    return await write_answer(write, Mode.CEL_DEL, person(name, None))


@router.get(
    "/celebs",
    response_model=list[Celeb],
    responses=error_answers(401),
    summary="List the named people",
)
def list_celebs(org: OrgDep, conn: ReadConnDep) -> list[dict[str, Any]]:
    return service.list_celebs(conn, org.id)


@router.get(
    "/celebs/{name}",
    response_model=Celeb,
    responses=error_answers(401, 404, 422),
    summary="Read a person",
)
def read_celeb(name: NamePath, org: OrgDep, conn: ReadConnDep) -> dict[str, Any]:
    return service.get_celeb(conn, org.id, name)
