"""/ops: read, list and cancel operations (section 4 of the contract)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from starlette.concurrency import run_in_threadpool

from pixsearch.db.engine import writer
from pixsearch.deps import OrgDep, ResourcesDep
from pixsearch.operations import store
from pixsearch.operations.schemas import Operation
from pixsearch.resources import Resources

router = APIRouter(tags=["operations"])
OpId = Annotated[int, Path(description="Operation id.", ge=1)]


@router.get("/ops/{op_id}", response_model=Operation, summary="Read an operation")
async def read_operation(op_id: OpId, org: OrgDep, res: ResourcesDep) -> dict[str, Any]:
    return await run_in_threadpool(_read, res, org.id, op_id)


@router.get("/ops", response_model=list[Operation], summary="List operations, newest first")
async def list_operations(
    org: OrgDep,
    res: ResourcesDep,
    page: Annotated[int, Query(ge=1, description="Page number, from 1.")] = 1,
    limit: Annotated[int, Query(ge=1, le=1000, description="Operations per page.")] = 50,
    is_finished: Annotated[bool | None, Query(description="Only (un)finished ones.")] = None,
    method: Annotated[
        Literal["add", "upd", "del"] | None, Query(description="Only this method.")
    ] = None,
) -> list[dict[str, Any]]:
    return await run_in_threadpool(_list, res, org.id, page, limit, is_finished, method)


@router.delete("/ops/{op_id}", response_model=Operation, summary="Cancel a queued operation")
async def cancel_operation(op_id: OpId, org: OrgDep, res: ResourcesDep) -> dict[str, Any]:
    operation = await run_in_threadpool(_cancel, res, org.id, op_id)
    res.waiter.notify(op_id)
    return operation


def _read(res: Resources, org_id: int, op_id: int) -> dict[str, Any]:
    with res.engine.connect() as conn:
        return store.get_operation(conn, org_id, op_id)


def _list(
    res: Resources, org_id: int, page: int, limit: int, finished: bool | None, method: str | None
) -> list[dict[str, Any]]:
    with res.engine.connect() as conn:
        return store.list_operations(
            conn, org_id, page=page, limit=limit, finished=finished, method=method
        )


def _cancel(res: Resources, org_id: int, op_id: int) -> dict[str, Any]:
    with writer(res.engine).begin() as conn:
        store.cancel(conn, res.backend.dialect, org_id, op_id)
        return store.get_operation(conn, org_id, op_id)
