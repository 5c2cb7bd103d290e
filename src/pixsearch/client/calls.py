"""The requests of the API and how their answers read, shared by Client and AsyncClient.

Each method of the clients builds a `Call` here and hands it to its transport, so the two
clients differ only in how they send. Retries are decided here too: connection failures
and 5xx answers are retried with backoff, writes only when they carry an idempotency key
(the clients always send one), so a retry never queues a second operation.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import TypeAdapter

from pixsearch.client.errors import ConnectionFailed, error_of
from pixsearch.images.schemas import Accepted, Image
from pixsearch.operations.schemas import Operation
from pixsearch.search.schemas import SearchAnswer

T = TypeVar("T")
WriteResult = Accepted | Operation
KEY_HEADER = "Idempotency-Key"  # as pixsearch.operations.idempotency names it; not
# imported from there, so that the client does not load the database layer
RETRIED_STATUSES = frozenset((500, 502, 503, 504))
Params = list[tuple[str, str | int | float | bool]]
MAX_PAGES = 2**31  # iterators stop at the first short page long before this

_OPERATIONS = TypeAdapter(list[Operation])


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request, and how to read its successful answer."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: Params = field(default_factory=list)
    body: Any = None  # sent as JSON; bytes are sent as they are (JSON encoded already)
    idempotency_key: str | None = None

    @property
    def retryable(self) -> bool:
        """May a request that may have reached the server be sent again?"""
        return self.method == "GET" or self.idempotency_key is not None

    def headers(self) -> dict[str, str]:
        headers = {KEY_HEADER: self.idempotency_key} if self.idempotency_key else {}
        if isinstance(self.body, bytes):
            headers["Content-Type"] = "application/json"
        return headers

    def content(self) -> dict[str, Any]:
        """The body as httpx takes it: `content=` for bytes, `json=` otherwise."""
        if isinstance(self.body, bytes):
            return {"content": self.body}
        return {} if self.body is None else {"json": self.body}


@dataclass(frozen=True)
class Retry:
    """How often and how patiently to retry: `retries` more tries, `backoff_s` doubling."""

    retries: int = 3
    backoff_s: float = 0.25
    max_backoff_s: float = 5.0

    def delay(self, attempt: int) -> float:
        """Seconds before try `attempt + 1` (attempt counts from 0), with jitter."""
        base = min(self.max_backoff_s, self.backoff_s * 2**attempt)
        return float(base * random.uniform(0.5, 1.0))


def retry_after(call: Call[Any], attempt: int, retry: Retry, outcome: object) -> float | None:
    """The delay before trying again after `outcome` (an answer or an httpx error), or None
    to stop there."""
    if attempt >= retry.retries:
        return None
    if isinstance(outcome, httpx.Response):
        retried = outcome.status_code in RETRIED_STATUSES and call.retryable
    else:
        # A refused connection never reached the server: safe whatever the request.
        retried = isinstance(outcome, httpx.ConnectError) or call.retryable
    return retry.delay(attempt) if retried else None


def read_answer(call: Call[T], outcome: httpx.Response | httpx.TransportError) -> T:
    """The call's result, or the exception its answer (or failure) stands for."""
    if isinstance(outcome, httpx.TransportError):
        raise ConnectionFailed(f"{call.method} {call.path}: {outcome!r}") from outcome
    if outcome.is_success:
        return call.parse(outcome)
    try:
        detail = outcome.json().get("detail", outcome.text)
    except ValueError:
        detail = outcome.text
    raise error_of(outcome.status_code, detail)


def new_key() -> str:
    return f"pixsearch-client-{uuid.uuid4()}"


def _write_result(response: httpx.Response) -> WriteResult:
    if response.status_code == 200:
        return Operation.model_validate(response.json())
    return Accepted.model_validate(response.json())


def _flags(wait: bool, urgent: bool, strict: bool, subset: bool, lang: str | None) -> Params:
    params: Params = [
        ("wait", wait),
        ("urgent", urgent),
        ("strict", strict),
        ("subset", subset),
    ]
    return params if lang is None else [*params, ("lang", lang)]


def write(
    verb: str,
    path: str,
    body: Any,
    *,
    wait: bool,
    urgent: bool,
    strict: bool,
    subset: bool,
    lang: str | None,
    idempotency_key: str | None,
) -> Call[WriteResult]:
    """A write (POST, PUT, PATCH or DELETE on /imgs), always with an idempotency key."""
    return Call(
        verb,
        path,
        _write_result,
        _flags(wait, urgent, strict, subset, lang),
        body,
        idempotency_key or new_key(),
    )


def image_path(image_id: str | int) -> str:
    return f"/imgs/{quote(str(image_id), safe='')}"


def items_body(items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [dict(item) for item in items]


def ids_body(image_ids: Iterable[str | int]) -> list[dict[str, Any]]:
    return [{"id": image_id} for image_id in image_ids]


def get_image(image_id: str | int, fields: Iterable[str] | None) -> Call[Image]:
    params: Params = [("fields", name) for name in fields or ()]
    return Call("GET", image_path(image_id), _image, params)


def _image(response: httpx.Response) -> Image:
    return Image.model_validate(response.json())


def search(
    q: str,
    *,
    page: int,
    limit: int,
    sort_by: str,
    sort_order: str | None,
    fields: Iterable[str] | None,
    facets: Iterable[str] | None,
    facet_limit: int,
    count: bool,
    lang: str,
) -> Call[SearchAnswer]:
    params: Params = [
        ("q", q),
        ("page", page),
        ("limit", limit),
        ("sort_by", sort_by),
        ("facet_limit", facet_limit),
        ("count", count),
        ("lang", lang),
    ]
    if sort_order is not None:
        params.append(("sort_order", sort_order))
    params += [("fields", name) for name in fields or ()]
    params += [("facets", name) for name in facets or ()]
    return Call("GET", "/imgs", _search_answer, params)


def _search_answer(response: httpx.Response) -> SearchAnswer:
    return SearchAnswer.model_validate(response.json())


def operation(op_id: int) -> Call[Operation]:
    return Call("GET", f"/ops/{int(op_id)}", _operation)


def cancel(op_id: int) -> Call[Operation]:
    return Call("DELETE", f"/ops/{int(op_id)}", _operation)


def _operation(response: httpx.Response) -> Operation:
    return Operation.model_validate(response.json())


def operations(
    *, page: int, limit: int, is_finished: bool | None, method: str | None
) -> Call[list[Operation]]:
    params: Params = [("page", page), ("limit", limit)]
    if is_finished is not None:
        params.append(("is_finished", is_finished))
    if method is not None:
        params.append(("method", method))
    return Call("GET", "/ops", _operations, params)


def _operations(response: httpx.Response) -> list[Operation]:
    return _OPERATIONS.validate_python(response.json())


def health() -> Call[dict[str, Any]]:
    return Call("GET", "/health", _json)


def _json(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    return body


def op_id_of(target: int | Accepted | Operation) -> int:
    """The operation id of an id, a 202 answer or an operation."""
    if isinstance(target, Accepted):
        return target.operation_id
    if isinstance(target, Operation):
        return target.op_id
    return int(target)


def encode_params(params: Params) -> httpx.QueryParams:
    """Query parameters as the API reads them (booleans as true/false)."""
    return httpx.QueryParams(
        [
            (name, ("true" if value else "false") if isinstance(value, bool) else str(value))
            for name, value in params
        ]
    )


def poll_delays(first_s: float = 0.05, most_s: float = 1.0) -> Iterable[float]:
    """Delays between polls of an operation: quick at first, then once a second."""
    delay = first_s
    while True:
        yield delay
        delay = min(most_s, delay * 2)
