"""AsyncClient: the pixsearch API from asyncio (httpx), method for method like Client."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from pixsearch.client import calls
from pixsearch.client.calls import Call, Retry, WriteResult
from pixsearch.client.sync import DEFAULT_TIMEOUT_S, http_options
from pixsearch.images.schemas import Accepted, Image
from pixsearch.operations.schemas import Operation
from pixsearch.search.schemas import Hit, SearchAnswer

T = TypeVar("T")


class AsyncClient:
    """An asyncio client of one organisation (its API key). Use it as a context manager,
    or await `close()`. Writes carry an idempotency key, so their retries are safe."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        retries: int = 3,
        backoff_s: float = 0.25,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            transport=transport, **http_options(base_url, api_key, timeout)
        )
        self._retry = Retry(retries, backoff_s)

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def send(self, call: Call[T]) -> T:
        """Send `call`, retrying as its Retry policy allows; its result or a ClientError."""
        attempt = 0
        while True:
            outcome: httpx.Response | httpx.TransportError
            try:
                outcome = await self._http.request(
                    call.method,
                    call.path,
                    params=calls.encode_params(call.params),
                    headers=call.headers(),
                    **call.content(),
                )
            except httpx.TransportError as error:
                outcome = error
            delay = calls.retry_after(call, attempt, self._retry, outcome)
            if delay is None:
                return calls.read_answer(call, outcome)
            await asyncio.sleep(delay)
            attempt += 1

    # Writes: 202 Accepted, or the finished Operation with wait=True.

    async def add(
        self,
        image_id: str | int,
        /,
        *,
        wait: bool = False,
        urgent: bool = False,
        strict: bool = False,
        subset: bool = False,
        lang: str = "en",
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> WriteResult:
        """Add one image (`src` required); with strict=False an existing id is replaced."""
        return await self.send(
            calls.write(
                "POST", calls.image_path(image_id), fields, wait=wait, urgent=urgent,
                strict=strict, subset=subset, lang=lang, idempotency_key=idempotency_key,
            )
        )  # fmt: skip

    async def add_many(
        self,
        items: Iterable[Mapping[str, Any]],
        *,
        wait: bool = False,
        urgent: bool = False,
        strict: bool = False,
        subset: bool = False,
        lang: str = "en",
        idempotency_key: str | None = None,
    ) -> WriteResult:
        """Add images, each a mapping with `id` and `src`, as one operation."""
        return await self.send(
            calls.write(
                "POST", "/imgs", calls.items_body(items), wait=wait, urgent=urgent,
                strict=strict, subset=subset, lang=lang, idempotency_key=idempotency_key,
            )
        )  # fmt: skip

    async def replace(
        self,
        image_id: str | int,
        /,
        *,
        wait: bool = False,
        urgent: bool = False,
        strict: bool = False,
        subset: bool = False,
        lang: str = "en",
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> WriteResult:
        """Replace one image wholly (`src` required; fields left out become null)."""
        return await self.send(
            calls.write(
                "PUT", calls.image_path(image_id), fields, wait=wait, urgent=urgent,
                strict=strict, subset=subset, lang=lang, idempotency_key=idempotency_key,
            )
        )  # fmt: skip

    async def replace_many(
        self,
        items: Iterable[Mapping[str, Any]],
        *,
        wait: bool = False,
        urgent: bool = False,
        strict: bool = False,
        subset: bool = False,
        lang: str = "en",
        idempotency_key: str | None = None,
    ) -> WriteResult:
        """Replace images wholly, each a mapping with `id` and `src`, as one operation."""
        return await self.send(
            calls.write(
                "PUT", "/imgs", calls.items_body(items), wait=wait, urgent=urgent,
                strict=strict, subset=subset, lang=lang, idempotency_key=idempotency_key,
            )
        )  # fmt: skip

    async def patch(
        self,
        image_id: str | int,
        /,
        *,
        wait: bool = False,
        urgent: bool = False,
        strict: bool = False,
        subset: bool = False,
        lang: str = "en",
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> WriteResult:
        """Change the given fields of one image (None clears a field)."""
        return await self.send(
            calls.write(
                "PATCH", calls.image_path(image_id), fields, wait=wait, urgent=urgent,
                strict=strict, subset=subset, lang=lang, idempotency_key=idempotency_key,
            )
        )  # fmt: skip

    async def patch_many(
        self,
        items: Iterable[Mapping[str, Any]],
        *,
        wait: bool = False,
        urgent: bool = False,
        strict: bool = False,
        subset: bool = False,
        lang: str = "en",
        idempotency_key: str | None = None,
    ) -> WriteResult:
        """Change the given fields of images, each a mapping with `id`, as one operation."""
        return await self.send(
            calls.write(
                "PATCH", "/imgs", calls.items_body(items), wait=wait, urgent=urgent,
                strict=strict, subset=subset, lang=lang, idempotency_key=idempotency_key,
            )
        )  # fmt: skip

    async def delete(
        self,
        image_id: str | int,
        /,
        *,
        wait: bool = False,
        urgent: bool = False,
        strict: bool = False,
        subset: bool = False,
        idempotency_key: str | None = None,
    ) -> WriteResult:
        """Delete one image (strict=True: a missing id fails)."""
        return await self.send(
            calls.write(
                "DELETE", calls.image_path(image_id), None, wait=wait, urgent=urgent,
                strict=strict, subset=subset, lang=None, idempotency_key=idempotency_key,
            )
        )  # fmt: skip

    async def delete_many(
        self,
        image_ids: Iterable[str | int],
        *,
        wait: bool = False,
        urgent: bool = False,
        strict: bool = False,
        subset: bool = False,
        idempotency_key: str | None = None,
    ) -> WriteResult:
        """Delete images by id, as one operation."""
        return await self.send(
            calls.write(
                "DELETE", "/imgs", calls.ids_body(image_ids), wait=wait, urgent=urgent,
                strict=strict, subset=subset, lang=None, idempotency_key=idempotency_key,
            )
        )  # fmt: skip

    # Reads

    async def get(self, image_id: str | int, fields: Iterable[str] | None = None) -> Image:
        """One image, projected to `fields` when given; NotFoundError if missing."""
        return await self.send(calls.get_image(image_id, fields))

    async def search(
        self,
        q: str = "",
        *,
        page: int = 1,
        limit: int = 50,
        sort_by: str = "",
        sort_order: str | None = None,
        fields: Iterable[str] | None = None,
        facets: Iterable[str] | None = None,
        facet_limit: int = 20,
        count: bool = True,
        lang: str = "en",
    ) -> SearchAnswer:
        """One page of the images matching formula `q` (docs/query-language.md)."""
        return await self.send(
            calls.search(
                q, page=page, limit=limit, sort_by=sort_by, sort_order=sort_order,
                fields=fields, facets=facets, facet_limit=facet_limit, count=count, lang=lang,
            )
        )  # fmt: skip

    async def iter_search(
        self,
        q: str = "",
        *,
        page_size: int = 1000,
        sort_by: str = "",
        sort_order: str | None = None,
        fields: Iterable[str] | None = None,
        lang: str = "en",
    ) -> AsyncIterator[Hit]:
        """Every image matching `q`, page after page. Sort by `image_id` for a stable walk
        of a catalogue that changes meanwhile."""
        fields = list(fields) if fields else None
        for page in range(1, calls.MAX_PAGES):
            answer = await self.search(
                q, page=page, limit=page_size, sort_by=sort_by, sort_order=sort_order,
                fields=fields, count=False, lang=lang,
            )  # fmt: skip
            for image in answer.results:
                yield image
            if len(answer.results) < page_size:
                return

    async def operation(self, op_id: int) -> Operation:
        return await self.send(calls.operation(op_id))

    async def operations(
        self,
        *,
        page: int = 1,
        limit: int = 50,
        is_finished: bool | None = None,
        method: str | None = None,
    ) -> list[Operation]:
        """One page of the organisation's operations, newest first."""
        return await self.send(
            calls.operations(page=page, limit=limit, is_finished=is_finished, method=method)
        )

    async def iter_operations(
        self, *, is_finished: bool | None = None, method: str | None = None, page_size: int = 1000
    ) -> AsyncIterator[Operation]:
        """Every operation of the organisation, newest first."""
        for page in range(1, calls.MAX_PAGES):
            batch = await self.operations(
                page=page, limit=page_size, is_finished=is_finished, method=method
            )
            for operation in batch:
                yield operation
            if len(batch) < page_size:
                return

    async def cancel(self, op_id: int) -> Operation:
        """Cancel a queued operation; ConflictError once it has started."""
        return await self.send(calls.cancel(op_id))

    async def wait_for(
        self, target: int | Accepted | Operation, timeout: float | None = None
    ) -> Operation:
        """The operation once finished (polling); TimeoutError after `timeout` seconds."""
        op_id = calls.op_id_of(target)
        deadline = None if timeout is None else time.monotonic() + timeout
        for delay in calls.poll_delays():
            operation = await self.operation(op_id)
            if operation.is_finished:
                return operation
            if deadline is not None and time.monotonic() + delay > deadline:
                raise TimeoutError(f"operation {op_id} not finished after {timeout} s")
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def health(self) -> dict[str, Any]:
        """GET /health: status, version, database and representations."""
        return await self.send(calls.health())
