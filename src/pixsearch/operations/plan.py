"""Decide what each item of an operation does, from the image's current state.

Pure functions: prepare uses them to know which items need pixels, and apply uses them
again inside its transaction, against the state it is about to change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pixsearch.vocabulary.fields import CAPTION_FIELDS, WRITABLE_FIELDS

Action = Literal["insert", "replace", "patch", "delete", "reembed", "skip", "fail"]

# Operations made by `pixsearch models reembed`: fetch again, or only embed the caption.
REEMBED_MODES = ("reembed", "caption")
EXISTS_STRICT = "image already exists (strict mode)"
MISSING_STRICT = "image does not exist (strict mode)"


@dataclass(frozen=True)
class Plan:
    action: Action
    needs_pixels: bool = False
    error: str | None = None


def plan_item(
    mode: str, strict: bool, existing: dict[str, Any] | None, body: dict[str, Any] | None
) -> Plan:
    """What one item does: `mode` is add, put, patch, del, reembed or recaption."""
    if mode == "add":
        if existing is None:
            return Plan("insert", needs_pixels=True)
        if strict:
            return Plan("fail", error=EXISTS_STRICT)
        return Plan("replace", needs_pixels=_src_changes(existing, body))
    if existing is None:
        # upd, del and reembed of a missing id: skipped, or a failure in strict mode.
        if strict and mode not in REEMBED_MODES:
            return Plan("fail", error=MISSING_STRICT)
        return Plan("skip")
    if mode == "put":
        return Plan("replace", needs_pixels=_src_changes(existing, body))
    if mode == "patch":
        return Plan("patch", needs_pixels=_src_changes(existing, body))
    if mode == "del":
        return Plan("delete")
    if mode in REEMBED_MODES:
        return Plan("reembed", needs_pixels=mode == "reembed")
    raise ValueError(f"unknown operation mode {mode!r}")


def _src_changes(existing: dict[str, Any], body: dict[str, Any] | None) -> bool:
    return body is not None and "src" in body and body["src"] != existing["src"]


def new_fields(
    plan: Plan,
    existing: dict[str, Any] | None,
    body: dict[str, Any] | None,
    *,
    partial: bool = False,
) -> dict[str, Any]:
    """The writable fields after the item: replacement nulls what the body leaves out.
    `partial`: `existing` holds only some columns; the others come out as None."""
    given = body or {}
    if plan.action in ("insert", "replace"):
        return {name: given.get(name) for name in WRITABLE_FIELDS}
    assert existing is not None
    current = {name: existing.get(name) if partial else existing[name] for name in WRITABLE_FIELDS}
    if plan.action == "patch":
        current.update({name: value for name, value in given.items() if name in current})
    return current


def caption_text(fields: dict[str, Any]) -> str:
    """The text that the caption embedding is made of; empty when there is none."""
    parts: list[str] = []
    for name in CAPTION_FIELDS:
        value = fields.get(name)
        if isinstance(value, list):
            parts.append(", ".join(value))
        elif value:
            parts.append(str(value))
    return ". ".join(part for part in parts if part)
