"""Turning write requests into queued operations, and answering them (202, or 200 with the
finished operation under wait=true)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pixsearch.errors import InvalidInput
from pixsearch.images.schemas import Accepted, BatchDelete, BatchImage, ImageBody, check_image_id
from pixsearch.operations.enqueuer import Enqueuer
from pixsearch.operations.idempotency import fingerprint
from pixsearch.operations.schemas import Operation
from pixsearch.operations.waiter import Waiter
from pixsearch.vocabulary.operations import (
    METHOD_OF_MODE,
    IdempotencyKey,
    Mode,
    NewItem,
    NewOperation,
)


@dataclass(frozen=True)
class WriteFlags:
    wait: bool = False
    urgent: bool = False
    strict: bool = False
    subset: bool = False
    lang: str = "en"
    idempotency_key: str | None = None


def single_item(mode: Mode, image_id: str, body: ImageBody | None) -> list[NewItem]:
    """The one item of a single-image write, checking the body against the path."""
    if body is None:
        return [NewItem(image_id, image_id, None)]
    if body.id is not None and str(body.id) != image_id:
        raise InvalidInput(("body", "id"), "id differs from the image id in the path")
    fields = body.given()
    _check_src(mode, fields, ("body",))
    return [NewItem(image_id, image_id, fields)]


def batch_items(
    mode: Mode, bodies: Sequence[BatchImage | BatchDelete], max_items: int
) -> list[NewItem]:
    """The items of a batch write: at most `max_items`, ids unique, src where required."""
    if len(bodies) > max_items:
        raise InvalidInput(
            ("body",), f"too many items: {len(bodies)} (at most {max_items})", "too_long"
        )
    seen: set[str] = set()
    items: list[NewItem] = []
    for index, body in enumerate(bodies):
        try:
            image_id = check_image_id(body.id)
        except ValueError as error:
            raise InvalidInput(("body", index, "id"), str(error)) from None
        if image_id in seen:
            raise InvalidInput(("body", index, "id"), f"duplicate id {image_id!r} in request")
        seen.add(image_id)
        fields = body.given() if isinstance(body, BatchImage) else None
        if fields is not None:
            _check_src(mode, fields, ("body", index))
        items.append(NewItem(image_id, body.id, fields))
    return items


def _check_src(mode: Mode, fields: dict[str, Any], loc: tuple[str | int, ...]) -> None:
    if mode in (Mode.ADD, Mode.PUT) and fields.get("src") is None:
        raise InvalidInput((*loc, "src"), "Field required", "missing")
    if mode == Mode.PATCH and "src" in fields and fields["src"] is None:
        raise InvalidInput((*loc, "src"), "src cannot be cleared", "value_error")


ACCEPTED_MSG = {
    Mode.ADD: "Images addition accepted, processing in progress.",
    Mode.PUT: "Images update accepted, processing in progress.",
    Mode.PATCH: "Images update accepted, processing in progress.",
    Mode.DEL: "Images deletion accepted, processing in progress.",
    Mode.CEL_ADD: "Person addition accepted, processing in progress.",
    Mode.CEL_PUT: "Person update accepted, processing in progress.",
    Mode.CEL_DEL: "Person deletion accepted, processing in progress.",
}


@dataclass(frozen=True)
class Submitter:
    """What a write needs: the enqueuer, the waiter, and the local workers' wake-up."""

    enqueuer: Enqueuer
    waiter: Waiter
    work_queued: asyncio.Event
    wait_timeout_s: float
    key_retention_ms: int  # how long an Idempotency-Key names its operation

    async def submit(
        self, org_id: int, mode: Mode, items: list[NewItem], flags: WriteFlags
    ) -> Operation | Accepted:
        """Queue the operation (or find the one its idempotency key names); wait for it when
        asked, up to the wait limit."""
        operation = new_operation(org_id, mode, items, flags, self.key_retention_ms)
        op_id = await self.enqueuer.submit(operation)
        self.work_queued.set()
        if flags.wait:
            found = await self.waiter.finished_operation(org_id, op_id, self.wait_timeout_s)
            if found is not None:
                return Operation.model_validate(found)
        return Accepted(operation_id=op_id, n_total=len(items), msg=ACCEPTED_MSG[mode])


@dataclass(frozen=True)
class Write:
    """What a write endpoint needs, as one dependency rather than three (each costs FastAPI
    about 25 us of CPU per request): the caller's organisation, the request's flags, and
    the submitter."""

    org_id: int
    flags: WriteFlags
    submitter: Submitter

    async def submit(self, mode: Mode, items: list[NewItem]) -> Operation | Accepted:
        return await self.submitter.submit(self.org_id, mode, items, self.flags)


def new_operation(
    org_id: int, mode: Mode, items: list[NewItem], flags: WriteFlags, key_retention_ms: int
) -> NewOperation:
    """The operation a write queues (one transaction, shared with concurrent ones)."""
    idempotency = None
    if flags.idempotency_key is not None:
        options = {
            "urgent": flags.urgent,
            "strict": flags.strict,
            "subset": flags.subset,
            "lang": flags.lang,
        }
        idempotency = IdempotencyKey(
            flags.idempotency_key, fingerprint(mode, items, options), key_retention_ms
        )
    return NewOperation(
        org_id=org_id,
        method=METHOD_OF_MODE[mode],
        mode=mode,
        items=items,
        wait=flags.wait,
        urgent=flags.urgent,
        strict=flags.strict,
        subset=flags.subset,
        lang=flags.lang,
        idempotency=idempotency,
    )
