"""The rows of a source: JSON Lines, CSV (typed by the image schema) or a folder of images.

Each row is numbered from 1 (the first data row; a CSV's header is not a row) and holds
the JSON object it sends: a JSON Lines row is its line as it is (never decoded and encoded
again: at 10^5 rows that would cost seconds), a CSV or folder row its typed fields encoded.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pixsearch.vocabulary.fields import BOOL_FIELDS, LIST_FIELDS, WRITABLE_FIELDS

IMAGE_SUFFIXES = frozenset((".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"))
TRUE_WORDS = frozenset(("true", "1", "yes", "y", "t"))
FALSE_WORDS = frozenset(("false", "0", "no", "n", "f"))
COLUMNS = frozenset(("id", *WRITABLE_FIELDS))


class SourceError(Exception):
    """The source cannot be read at all (not one bad row): an unknown column, say."""


@dataclass(frozen=True)
class Row:
    number: int
    text: bytes | None  # the row's JSON object as sent; None when the row is unreadable
    problem: str | None = None

    @classmethod
    def of(cls, number: int, fields: dict[str, Any]) -> Row:
        return cls(number, json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode())

    @property
    def fields(self) -> dict[str, Any] | None:
        """The row decoded (for reports and tests), or None when it is not a JSON object."""
        if self.text is None:
            return None
        try:
            value = json.loads(self.text)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None


@dataclass(frozen=True)
class Source:
    """Where rows come from; `rows()` reads them afresh each time it is called."""

    kind: str  # jsonl, csv or folder
    path: Path
    separator: str = "|"
    base_url: str = ""

    def rows(self) -> Iterator[Row]:
        if self.kind == "folder":
            return folder_rows(self.path, self.base_url)
        if self.kind == "csv":
            return csv_rows(self.path, self.separator)
        return jsonl_rows(self.path)


def detect_kind(path: Path, given: str | None) -> str:
    if given:
        return given
    return "csv" if path.suffix.lower() in (".csv", ".tsv") else "jsonl"


def jsonl_rows(path: Path) -> Iterator[Row]:
    """The non-blank lines, undecoded: checking them is validating them."""
    number = 0
    with path.open("rb") as lines:
        for line in lines:
            text = line.strip()
            if text:
                number += 1
                yield Row(number, text)


def csv_rows(path: Path, separator: str) -> Iterator[Row]:
    with path.open(encoding="utf-8-sig", newline="") as text:
        reader = csv.reader(text, dialect=csv.excel_tab if path.suffix == ".tsv" else csv.excel)
        header = next(reader, None)
        if header is None:
            return
        columns = check_header([name.strip() for name in header])
        for number, record in enumerate(reader, start=1):
            if len(record) != len(columns):
                yield Row(number, None, f"{len(record)} cells, the header has {len(columns)}")
                continue
            yield Row.of(number, typed_record(columns, record, separator))


def check_header(columns: list[str]) -> list[str]:
    unknown = [name for name in columns if name not in COLUMNS]
    if unknown:
        raise SourceError(f"unknown column(s) {', '.join(map(repr, unknown))}")
    if "id" not in columns:
        raise SourceError("the header has no `id` column")
    if len(set(columns)) != len(columns):
        raise SourceError("a column is named twice in the header")
    return columns


def typed_record(columns: list[str], record: list[str], separator: str) -> dict[str, Any]:
    """A CSV record as the image schema types it; an empty cell gives no field."""
    fields: dict[str, Any] = {}
    for name, cell in zip(columns, record, strict=True):
        if cell == "":
            continue
        if name in LIST_FIELDS:
            fields[name] = [part.strip() for part in cell.split(separator) if part.strip()]
        elif name in BOOL_FIELDS:
            word = cell.strip().lower()
            fields[name] = True if word in TRUE_WORDS else False if word in FALSE_WORDS else cell
        else:
            fields[name] = cell
    return fields


def folder_rows(folder: Path, base_url: str) -> Iterator[Row]:
    """One row per image file under `folder`: id = its relative path with `/` as `__`
    (ids cannot hold `/`), src = base URL + relative path."""
    files = sorted(
        path
        for path in folder.rglob("*")
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
    )
    base = base_url.rstrip("/")
    for number, path in enumerate(files, start=1):
        relative = path.relative_to(folder).as_posix()
        yield Row.of(
            number, {"id": relative.replace("/", "__"), "src": f"{base}/{quote(relative)}"}
        )
