"""The contract's error shapes where FastAPI and Starlette would answer in their own.

- A body over the limit: 413 `{"detail": ...}`, whether its Content-Length says so up
  front or a streamed body passes the limit (Starlette's own limit answers the first in
  plain text).
- A body that is not UTF-8: 422 in FastAPI's list shape, like any other unreadable JSON
  (FastAPI answers 400).
- A method the path does not have: 405 whose `Allow` lists every method of the path, not
  just those of the first route that matched it.
- A 422 whose input holds a number JSON cannot write (Python's JSON reader takes NaN and
  Infinity, and reads 1e999 as infinity): the number as null, as FastAPI writes it in a
  response, where FastAPI's own handler fails with a 500.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOO_LARGE = "request body too large: more than {} bytes (PIXSEARCH_MAX_BODY_BYTES)"


class BodyLimit:
    """ASGI middleware: refuse request bodies over `max_bytes` with a JSON 413."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        detail = TOO_LARGE.format(self.max_bytes)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await JSONResponse({"detail": detail}, status_code=413)(scope, receive, send)
            return
        received = 0

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI re-raises an HTTPException met while reading the body, and
                    # its handler renders it as {"detail": ...}.
                    raise HTTPException(413, detail)
            return message

        await self.app(scope, receive_limited, send)


async def http_error(request: Request, exc: Exception) -> Response:
    """FastAPI's HTTP error answer, but in the contract's shapes (see the module)."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
        return not_utf8(exc.__cause__)
    if exc.status_code == 405:
        allowed = ", ".join(methods_of_path(request))
        return JSONResponse({"detail": exc.detail}, status_code=405, headers={"Allow": allowed})
    return await http_exception_handler(request, exc)


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422, with the numbers JSON cannot write as null (see the module)."""
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": finite(jsonable_encoder(exc.errors()))}, status_code=422)


def finite(data: Any) -> Any:
    """`data` (decoded JSON) with every infinite or NaN float replaced by None."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: finite(value) for key, value in data.items()}
    if isinstance(data, list):
        return [finite(value) for value in data]
    return data


def not_utf8(error: UnicodeDecodeError) -> JSONResponse:
    entry: dict[str, Any] = {
        "type": "json_invalid",
        "loc": ["body", error.start],
        "msg": f"JSON body is not valid UTF-8: byte 0x{error.object[error.start]:02x} "
        f"at position {error.start}",
    }
    return JSONResponse({"detail": [entry]}, status_code=422)


METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


def methods_of_path(request: Request) -> list[str]:
    """Every method some route of the app answers at the request's path (asked of the
    routes themselves, included routers and all)."""
    routes = request.app.router.routes
    return [
        method
        for method in METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes
        )
    ]


def install_error_shapes(app: FastAPI, max_body_bytes: int) -> None:
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
