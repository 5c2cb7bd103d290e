"""Validate every row before anything is sent, with the server's own schema."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pydantic

from pixsearch.catalogue.rows import Row
from pixsearch.images.schemas import BatchImage, check_image_id

SRC_REQUIRED = frozenset(("add", "replace"))


@dataclass(frozen=True)
class RowFailure:
    """A row that failed: in validation, or in its operation."""

    id: Any
    row: int
    msg: str

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "row": self.row, "msg": self.msg}


@dataclass
class Checked:
    rows: int = 0
    failures: list[RowFailure] = field(default_factory=list)
    fingerprint: str = ""  # SHA-256 of the rows as they will be sent


def check_rows(rows: Iterable[Row], mode: str) -> Checked:
    """Every row's problems (the first of each row's fields, all rows), and the source's
    fingerprint; ids must be unique in the whole source, since batches may apply in any
    order."""
    checked = Checked()
    digest = hashlib.sha256()
    first_row: dict[str, int] = {}
    for row in rows:
        checked.rows += 1
        problem = row.problem or check_row(row.fields or {}, mode)
        image_id = (row.fields or {}).get("id")
        if problem is None:
            key = str(image_id)
            if key in first_row:
                problem = f"duplicate id {key!r} (first at row {first_row[key]})"
            else:
                first_row[key] = row.number
        if problem is not None:
            checked.failures.append(RowFailure(image_id, row.number, problem))
        digest.update(canonical(row.fields).encode())
        digest.update(b"\n")
    checked.fingerprint = digest.hexdigest()
    return checked


def check_row(fields: dict[str, Any], mode: str) -> str | None:
    """What is wrong with one row, as the server would say it; None when it is fine."""
    try:
        item = BatchImage.model_validate(fields)
        check_image_id(item.id)
    except pydantic.ValidationError as error:
        return "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or 'row'}: {problem['msg']}"
            for problem in error.errors(include_url=False)
        )
    except ValueError as error:
        return f"id: {error}"
    if mode in SRC_REQUIRED and item.src is None:
        return "src: Field required"
    if mode == "patch" and "src" in fields and fields["src"] is None:
        return "src: src cannot be cleared"
    return None


def canonical(fields: dict[str, Any] | None) -> str:
    """The row as it is sent (keys in the source's order: the same source, the same text)."""
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False)
