"""Rows derived from an image and kept in step by the apply step: set terms, full text,
embeddings. Called inside the apply transaction, in bulk.

Full text is the FTS5 table `images_fts` on SQLite; on PostgreSQL the table of that name
holds one `tsvector` per image, built here from the same folded words (no text search
configuration, parser or locale in between), each position weighted by its column.
Embeddings on PostgreSQL also go to the pgvector column `embedding` (migration 0002).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

import numpy as np
import sqlalchemy as sa

from pixsearch.db.tables import embeddings, image_terms
from pixsearch.images.fields import LABEL_FIELDS, LIST_FIELDS, PROSE_FIELDS
from pixsearch.images.text import fold, folded_words

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
    pks = [pk for pk, _ in rows]
    delete_fulltext(conn, pks)
    if conn.dialect.name == "postgresql":
        documents = [(pk, tsvector_text(fulltext_columns(fields))) for pk, fields in rows]
        conn.exec_driver_sql(
            "INSERT INTO images_fts (rowid, document) VALUES (%s, %s::tsvector)", documents
        )
        return
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


# tsvector weight of each of fulltext_columns: A for the title, B for headline and
# keywords, C for the rest (fulltext.py gives A, B, C the BM25 weights 3, 2, 1 of SQLite).
TSVECTOR_WEIGHTS = ("A", "B", "C", "C", "B", "C")
MAX_POSITION = 16383  # tsvector positions stop here
MAX_POSITIONS_PER_WORD = 256
MAX_LEXEME_BYTES = 2046


def tsvector_text(columns: tuple[str, ...]) -> str:
    """A tsvector literal of the folded words of the columns, weighted by column."""
    positions: dict[str, list[str]] = {}
    position = 0
    for text, weight in zip(columns, TSVECTOR_WEIGHTS, strict=True):
        for word in folded_words(text):
            position = min(position + 1, MAX_POSITION)
            found = positions.setdefault(word, [])
            if len(found) < MAX_POSITIONS_PER_WORD and len(word.encode()) <= MAX_LEXEME_BYTES:
                found.append(f"{position}{weight}")
    return " ".join(
        "'" + word.replace("\\", "\\\\").replace("'", "''") + "':" + ",".join(found)
        for word, found in positions.items()
        if found
    )


def delete_fulltext(conn: sa.Connection, pks: Sequence[int]) -> None:
    if conn.dialect.name == "postgresql":
        for part in chunked(pks):
            conn.exec_driver_sql("DELETE FROM images_fts WHERE rowid = ANY(%s)", (list(part),))
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
                sa.delete(embeddings).where(
                    embeddings.c.kind == kind, embeddings.c.image_pk.in_(part)
                )
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
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(sa.insert(embeddings), rows)
        return
    for row in rows:
        row["embedding"] = vector_text(np.frombuffer(cast(bytes, row["vector"]), np.float32))
    conn.execute(INSERT_WITH_PGVECTOR, rows)
    for dim in {len(vector) for _, _, _, vector in vectors if vector is not None}:
        ensure_hnsw_index(conn, dim)


INSERT_WITH_PGVECTOR = sa.text(
    "INSERT INTO embeddings (image_pk, kind, org_id, model, vector, embedding) "
    "VALUES (:image_pk, :kind, :org_id, :model, :vector, CAST(:embedding AS vector))"
)


def vector_text(vector: np.ndarray) -> str:
    """pgvector's text form of a vector."""
    return "[" + ",".join(map(repr, np.asarray(vector, dtype=np.float32).tolist())) + "]"


def hnsw_index_name(dim: int) -> str:
    return f"ix_embeddings_hnsw_{int(dim)}"


def ensure_hnsw_index(conn: sa.Connection, dim: int) -> None:
    """Create the HNSW index of vectors of `dim` dimensions the first time one is stored.

    A partial expression index per dimension, since the column is untyped (migration
    0002 says why). Its first vectors are the ones of this transaction, so the build is
    instant; the advisory lock keeps two workers from creating it at once.
    """
    name = hnsw_index_name(dim)
    if conn.exec_driver_sql("SELECT to_regclass(%s)", (name,)).scalar() is not None:
        return
    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(2, int(dim))))
    conn.exec_driver_sql(
        f"CREATE INDEX IF NOT EXISTS {name} ON embeddings USING hnsw "
        f"((embedding::vector({int(dim)})) vector_cosine_ops) "
        f"WHERE vector_dims(embedding) = {int(dim)}"
    )
