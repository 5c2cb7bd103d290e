"""/ops: read, list and cancel operations (section 4 of the contract)."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Path, Query

from pixsearch.deps import (
    BackendDep,
    MetricsDep,
    OrgDep,
    ReadConnDep,
    WaiterDep,
    WriteConnDep,
)
from pixsearch.operations import store
from pixsearch.operations.schemas import Operation
from pixsearch.schemas import error_answers
from pixsearch.vocabulary.operations import Method

log = logging.getLogger(__name__)
router = APIRouter(tags=["operations"])
MAX_OP_ID = 2**31 - 1  # operation ids are 32-bit integers on PostgreSQL: beyond, a 422
MAX_PAGE = 1_000_000_000  # keeps (page - 1) * limit, the SQL offset, within 64 bits
OpId = Annotated[int, Path(description="Operation id.", ge=1, le=MAX_OP_ID)]


@router.get(
    "/ops/{op_id}",
    response_model=Operation,
    responses=error_answers(401, 404, 422),
    summary="Read an operation",
)
def read_operation(op_id: OpId, org: OrgDep, conn: ReadConnDep) -> Operation:
    return Operation.model_validate(store.get_operation(conn, org.id, op_id))


@router.get(
    "/ops",
    response_model=list[Operation],
    responses=error_answers(401, 422),
    summary="List operations, newest first",
)
def list_operations(
    org: OrgDep,
    conn: ReadConnDep,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page number, from 1.")] = 1,
    limit: Annotated[int, Query(ge=1, le=1000, description="Operations per page.")] = 50,
    is_finished: Annotated[bool | None, Query(description="Only (un)finished ones.")] = None,
    method: Annotated[Method | None, Query(description="Only this method.")] = None,
) -> list[Operation]:
    found = store.list_operations(
        conn, org.id, page=page, limit=limit, finished=is_finished, method=method
    )
    return [Operation.model_validate(operation) for operation in found]


@router.delete(
    "/ops/{op_id}",
    response_model=Operation,
    responses=error_answers(401, 404, 409, 422),
    summary="Cancel a queued operation",
)
def cancel_operation(
    op_id: OpId,
    org: OrgDep,
    conn: WriteConnDep,
    backend: BackendDep,
    waiter: WaiterDep,
    metrics: MetricsDep,
) -> Operation:
    with conn.begin():
        store.cancel(conn, backend.dialect, org.id, op_id)
        operation = store.get_operation(conn, org.id, op_id)
    waiter.notify_threadsafe(op_id)
    log.info("operation %d cancelled", op_id, extra={"op_id": op_id})
    if metrics is not None:
        metrics.count_cancelled(operation["method"], org.name)
    return Operation.model_validate(operation)
