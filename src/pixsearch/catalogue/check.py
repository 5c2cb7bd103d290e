"""Validate every row before anything is sent, with the server's own schema.

Rows are validated a thousand at a time from their JSON text in one call into pydantic's
core (three times faster than one row at a time); a chunk with a bad row is validated
again row by row, to name each problem.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import pydantic

from pixsearch.catalogue.rows import Row
from pixsearch.images.schemas import BatchImage, check_image_id

SRC_REQUIRED = frozenset(("add", "replace"))
CHUNK = 1000
_ITEMS = pydantic.TypeAdapter(list[BatchImage])


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
    """Every row's problems (all rows), and the source's fingerprint; ids must be unique in
    the whole source, since batches may apply in any order."""
    checked = Checked()
    digest = hashlib.sha256()
    first_row: dict[str, int] = {}
    for chunk in chunks(rows):
        for row, result in zip(chunk, validate_chunk(chunk), strict=True):
            checked.rows += 1
            digest.update(row.text or b"")
            digest.update(b"\n")
            problem = result if isinstance(result, str) else check_item(result, mode)
            if problem is None:
                assert isinstance(result, BatchImage)
                image_id = str(result.id)
                if image_id in first_row:
                    problem = f"duplicate id {image_id!r} (first at row {first_row[image_id]})"
                else:
                    first_row[image_id] = row.number
            if problem is not None:
                checked.failures.append(RowFailure(id_of(row), row.number, problem))
    checked.fingerprint = digest.hexdigest()
    return checked


def chunks(rows: Iterable[Row]) -> Iterator[list[Row]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, CHUNK)):
        yield chunk


def validate_chunk(chunk: list[Row]) -> list[BatchImage | str]:
    """Each row's item, or what is wrong with it."""
    if all(row.text is not None for row in chunk):
        body = b"[" + b",".join(row.text for row in chunk if row.text is not None) + b"]"
        try:
            return list(_ITEMS.validate_json(body))
        except pydantic.ValidationError:
            pass
    return [validate_row(row) for row in chunk]


def validate_row(row: Row) -> BatchImage | str:
    if row.text is None:
        return row.problem or "unreadable row"
    try:
        return BatchImage.model_validate_json(row.text)
    except pydantic.ValidationError as error:
        return "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or 'row'}: {problem['msg']}"
            for problem in error.errors(include_url=False)
        )


def check_item(item: BatchImage, mode: str) -> str | None:
    """What the schema lets through but the write would refuse; None when fine."""
    try:
        check_image_id(item.id)
    except ValueError as error:
        return f"id: {error}"
    if mode in SRC_REQUIRED and item.src is None:
        return "src: Field required"
    if mode == "patch" and "src" in item.model_fields_set and item.src is None:
        return "src: src cannot be cleared"
    return None


def id_of(row: Row) -> Any:
    return (row.fields or {}).get("id")
