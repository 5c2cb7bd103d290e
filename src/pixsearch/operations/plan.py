"""Decide what each item of an operation does, from the image's current state.

Pure functions: prepare uses them to know which items need pixels, and apply uses them
again inside its transaction, against the state it is about to change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pixsearch.vocabulary.fields import CAPTION_FIELDS, WRITABLE_FIELDS
from pixsearch.vocabulary.operations import REEMBED_MODES, Action, Mode
from pixsearch.vocabulary.rows import ImageRow

EXISTS_STRICT = "image already exists (strict mode)"
MISSING_STRICT = "image does not exist (strict mode)"


@dataclass(frozen=True)
class Plan:
    action: Action
    needs_pixels: bool = False
    error: str | None = None


def plan_item(
    mode: Mode, strict: bool, existing: ImageRow | None, body: dict[str, Any] | None
) -> Plan:
    """What one item does in an operation of `mode`."""
    if mode == Mode.ADD:
        if existing is None:
            return Plan(Action.INSERT, needs_pixels=True)
        if strict:
            return Plan(Action.FAIL, error=EXISTS_STRICT)
        return Plan(Action.REPLACE, needs_pixels=_src_changes(existing, body))
    if existing is None:
        # upd, del and reembed of a missing id: skipped, or a failure in strict mode.
        if strict and mode not in REEMBED_MODES:
            return Plan(Action.FAIL, error=MISSING_STRICT)
        return Plan(Action.SKIP)
    if mode == Mode.PUT:
        return Plan(Action.REPLACE, needs_pixels=_src_changes(existing, body))
    if mode == Mode.PATCH:
        return Plan(Action.PATCH, needs_pixels=_src_changes(existing, body))
    if mode == Mode.DEL:
        return Plan(Action.DELETE)
    if mode in REEMBED_MODES:
        return Plan(Action.REEMBED, needs_pixels=mode == Mode.REEMBED)
    raise ValueError(f"unknown operation mode {mode!r}")


def _src_changes(existing: ImageRow, body: dict[str, Any] | None) -> bool:
    return body is not None and "src" in body and body["src"] != existing.get("src")


def new_fields(
    plan: Plan,
    existing: ImageRow | None,
    body: dict[str, Any] | None,
) -> dict[str, Any]:
    """The writable fields after the item: replacement nulls what the body leaves out.
    `existing` may hold only some columns (prepare's); the others come out as None."""
    given = body or {}
    if plan.action in (Action.INSERT, Action.REPLACE):
        return {name: given.get(name) for name in WRITABLE_FIELDS}
    assert existing is not None
    current = {name: existing.get(name) for name in WRITABLE_FIELDS}
    if plan.action == Action.PATCH:
        current.update({name: value for name, value in given.items() if name in current})
    return current


def caption_text(fields: Mapping[str, object]) -> str:
    """The text that the caption embedding is made of; empty when there is none."""
    parts: list[str] = []
    for name in CAPTION_FIELDS:
        value = fields.get(name)
        if isinstance(value, list):
            parts.append(", ".join(value))
        elif value:
            parts.append(str(value))
    return ". ".join(part for part in parts if part)
