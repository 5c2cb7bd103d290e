"""LeanRoute: an APIRoute whose requests are handled without FastAPI's generic handler.

FastAPI's request handler (its telemetry hooks, the endpoint's context for error messages,
a dependency solver that walks every kind of parameter) cost a single-image write more CPU
than everything else of its acceptance, the queue's commit included (bench/writes.py;
docs/performance.md). The write routes need three kinds of parameter, which this handler
solves itself, in FastAPI's order and with FastAPI's errors:

- a path parameter, validated by its annotation;
- one required body, JSON when the Content-Type says so (FastAPI's strict content type);
- `Annotated[T, Depends(f)]`, where `f` is async and takes the request alone.

FastAPI still reads the endpoint's signature for the OpenAPI document. A route with any
other parameter, a sync endpoint or route-level dependencies is refused when it is
declared. tests/test_lean_route.py sends the same requests to these routes and to FastAPI's
own and compares the answers.
"""

from __future__ import annotations

import email.message
import inspect
import json
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any, get_args, get_origin, get_type_hints

from fastapi import Request, params
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError
from starlette.exceptions import HTTPException

Solver = Callable[[Request], Awaitable[Any]]
MISSING_BODY = {"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}


class _Missing:
    """An empty body: FastAPI's `Undefined`."""


MISSING = _Missing()


@dataclass(frozen=True)
class _Plan:
    """Where each of an endpoint's parameters comes from."""

    dependencies: tuple[tuple[str, Solver], ...]
    path: tuple[tuple[str, TypeAdapter[Any]], ...]
    body: tuple[str, TypeAdapter[Any]] | None


class LeanRoute(APIRoute):
    """A route whose handler is this module's (FastAPI's hook for it: `get_route_handler`);
    FastAPI's own still wraps it (`request_response`: the exception handlers, the exit
    stacks)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        if self.dependencies:
            raise TypeError(f"{self.path}: a LeanRoute takes no route-level dependencies")
        plan = _plan_of(self.endpoint, set(self.param_convertors))
        endpoint = self.endpoint

        async def handle(request: Request) -> Response:
            # FastAPI's order: the body is read and parsed first, then the dependencies are
            # solved, then the parameters validated, their errors reported together.
            body = await _read_json(request) if plan.body is not None else None
            values = {name: await solve(request) for name, solve in plan.dependencies}
            errors: list[dict[str, Any]] = []
            for name, adapter in plan.path:
                values[name] = validated(adapter, request.path_params[name], ("path", name), errors)
            if plan.body is not None:
                name, adapter = plan.body
                if body is MISSING:
                    errors.append(dict(MISSING_BODY))
                else:
                    values[name] = validated(adapter, body, ("body",), errors)
            if errors:
                raise RequestValidationError(errors, body=None if body is MISSING else body)
            response: Response = await endpoint(**values)
            return response

        return handle


def validated(
    adapter: TypeAdapter[Any], value: Any, loc: tuple[str, ...], errors: list[dict[str, Any]]
) -> Any:
    """`value` validated by `adapter`, or None with its errors (as FastAPI words them) added
    to `errors`. As in FastAPI, objects may give their attributes, which changes the words
    of the error for a body that is not an object."""
    try:
        return adapter.validate_python(value, from_attributes=True)
    except ValidationError as error:
        errors += [{**e, "loc": (*loc, *e["loc"])} for e in error.errors(include_url=False)]
        return None


def _plan_of(endpoint: Callable[..., Any], path_names: set[str]) -> _Plan:
    if not inspect.iscoroutinefunction(endpoint):
        raise TypeError(f"{endpoint.__qualname__}: a LeanRoute's endpoint must be async")
    hints = get_type_hints(endpoint, include_extras=True)
    dependencies: list[tuple[str, Solver]] = []
    path: list[tuple[str, TypeAdapter[Any]]] = []
    body: list[tuple[str, TypeAdapter[Any]]] = []
    for name, parameter in inspect.signature(endpoint).parameters.items():
        if parameter.default is not inspect.Parameter.empty:
            raise TypeError(f"{endpoint.__qualname__}: {name} has a default")
        hint = hints[name]
        solver = _dependency_of(hint)
        if solver is not None:
            dependencies.append((name, solver))
        elif name in path_names:
            path.append((name, TypeAdapter(hint)))
        elif not _declares(hint, (params.Query, params.Header, params.Cookie, params.Form)):
            body.append((name, TypeAdapter(hint)))
        else:
            raise TypeError(f"{endpoint.__qualname__}: {name} is not a path, body or dependency")
    if len(body) > 1:
        raise TypeError(f"{endpoint.__qualname__}: a LeanRoute takes one body at most")
    return _Plan(tuple(dependencies), tuple(path), body[0] if body else None)


def _dependency_of(hint: Any) -> Solver | None:
    """The function of an `Annotated[T, Depends(f)]` whose `f(request)` is all it needs."""
    if get_origin(hint) is not Annotated:
        return None
    depends = [m for m in get_args(hint)[1:] if isinstance(m, params.Depends)]
    if not depends:
        return None
    solve = depends[0].dependency
    assert solve is not None
    signature = inspect.signature(solve, eval_str=True)
    takes_request = [p.annotation for p in signature.parameters.values()] == [Request]
    if not (inspect.iscoroutinefunction(solve) and takes_request):
        raise TypeError(f"{solve.__qualname__}: a LeanRoute's dependency is f(request), async")
    return solve


def _declares(hint: Any, kinds: tuple[type, ...]) -> bool:
    return get_origin(hint) is Annotated and any(isinstance(m, kinds) for m in get_args(hint))


async def _read_json(request: Request) -> Any:
    """The body as FastAPI hands it to validation: the parsed JSON when the Content-Type is
    JSON, the bytes when it is another type or none, MISSING when it is empty. Reading and
    parsing fail as in FastAPI: a JSON error is a 422 at its position, an HTTPException
    (BodyLimit's 413) passes through, anything else is a 400 whose cause
    `http_errors.http_error` may render otherwise (a body not in UTF-8)."""
    try:
        data = await request.body()
        if not data:
            return MISSING
        content_type = request.headers.get("content-type")
        return json.loads(data) if content_type and _is_json(content_type) else data
    except json.JSONDecodeError as error:
        problem = {
            "type": "json_invalid",
            "loc": ("body", error.pos),
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": error.msg},
        }
        raise RequestValidationError([problem], body=error.doc) from error
    except HTTPException:
        raise
    except Exception as error:
        raise HTTPException(400, "There was an error parsing the body") from error


def _is_json(content_type: str) -> bool:
    """application/json or application/*+json, parameters and case aside, as FastAPI reads
    it (through email.message, which the common exact value skips)."""
    if content_type == "application/json":
        return True
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )
