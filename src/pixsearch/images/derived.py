"""Rows derived from an image and kept in step by the apply step: set terms, full text,
embeddings. Called inside the apply transaction, in bulk."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa

from pixsearch.db.tables import embeddings, image_terms
from pixsearch.images.fields import LABEL_FIELDS, LIST_FIELDS, PROSE_FIELDS
from pixsearch.images.text import fold

CHUNK = 500  # bound the number of bound parameters per IN (...)


def chunked(values: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def replace_terms(conn: sa.Connection, org_id: int, rows: list[tuple[int, dict[str, Any]]]) -> None:
    """Rewrite the keyword/category/collection rows of the images given as (pk, fields)."""
    pks = [pk for pk, _ in rows]
    for part in chunked(pks):
        conn.execute(sa.delete(image_terms).where(image_terms.c.image_pk.in_(part)))
    terms = [
        {
            "image_pk": pk,
            "org_id": org_id,
            "field": field,
            "value": value,
            "value_norm": fold(value),
        }
        for pk, fields in rows
        for field in LIST_FIELDS
        for value in dict.fromkeys(fields.get(field) or ())
    ]
    if terms:
        conn.execute(sa.insert(image_terms), terms)


def replace_fulltext(conn: sa.Connection, rows: list[tuple[int, dict[str, Any]]]) -> None:
    """Rewrite the full-text rows of the images given as (pk, fields)."""
    if conn.dialect.name != "sqlite":
        return  # PostgreSQL computes its tsvector from the row itself
    pks = [pk for pk, _ in rows]
    delete_fulltext(conn, pks)
    conn.exec_driver_sql(
        "INSERT INTO images_fts(rowid, title, headline, caption, alt_text, keywords, labels) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(pk, *fulltext_columns(fields)) for pk, fields in rows],
    )


def fulltext_columns(fields: dict[str, Any]) -> tuple[str, ...]:
    prose = tuple(fields.get(name) or "" for name in PROSE_FIELDS)
    lists = " ".join(" ".join(fields.get(name) or ()) for name in LIST_FIELDS)
    labels = " ".join(str(fields.get(name) or "") for name in LABEL_FIELDS)
    return (*prose, lists, labels)


def delete_fulltext(conn: sa.Connection, pks: Sequence[int]) -> None:
    if conn.dialect.name != "sqlite":
        return
    for part in chunked(pks):
        conn.exec_driver_sql(
            f"DELETE FROM images_fts WHERE rowid IN ({','.join('?' * len(part))})", tuple(part)
        )


def store_embeddings(
    conn: sa.Connection, org_id: int, vectors: list[tuple[int, str, str, np.ndarray | None]]
) -> None:
    """Set or drop (vector None) each (pk, kind, model, vector)."""
    by_kind: dict[str, list[int]] = {}
    for pk, kind, _model, _vector in vectors:
        by_kind.setdefault(kind, []).append(pk)
    for kind, pks in by_kind.items():
        for part in chunked(pks):
            conn.execute(
                sa.delete(embeddings)
                .where(embeddings.c.kind == kind, embeddings.c.image_pk.in_(part))
            )
    rows = [
        {
            "image_pk": pk,
            "kind": kind,
            "org_id": org_id,
            "model": model,
            "vector": np.asarray(vector, dtype=np.float32).tobytes(),
        }
        for pk, kind, model, vector in vectors
        if vector is not None
    ]
    if rows:
        conn.execute(sa.insert(embeddings), rows)
