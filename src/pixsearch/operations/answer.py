"""How a write answers: 202 at once, or 200 with the finished operation under wait=true."""

from __future__ import annotations

from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from pixsearch.operations import store
from pixsearch.resources import Resources

ACCEPTED_MSG = {
    "add": "Images addition accepted, processing in progress.",
    "put": "Images update accepted, processing in progress.",
    "patch": "Images update accepted, processing in progress.",
    "del": "Images deletion accepted, processing in progress.",
}


async def answer_write(
    res: Resources, org_id: int, op_id: int, mode: str, n_total: int, wait: bool
) -> JSONResponse:
    """Wake the local worker; wait for the operation when asked, up to the wait limit."""
    res.wake_workers()
    if wait and await res.waiter.wait(
        op_id, res.settings.wait_timeout_s, lambda op: _is_finished(res, op)
    ):
        operation = await run_in_threadpool(_get, res, org_id, op_id)
        return JSONResponse(operation, status_code=200)
    body = {"operation_id": op_id, "n_total": n_total, "msg": ACCEPTED_MSG[mode]}
    return JSONResponse(body, status_code=202)


async def _is_finished(res: Resources, op_id: int) -> bool:
    return await run_in_threadpool(_check, res, op_id)


def _check(res: Resources, op_id: int) -> bool:
    with res.engine.connect() as conn:
        return store.is_finished(conn, op_id)


def _get(res: Resources, org_id: int, op_id: int) -> dict[str, object]:
    with res.engine.connect() as conn:
        return store.get_operation(conn, org_id, op_id)
