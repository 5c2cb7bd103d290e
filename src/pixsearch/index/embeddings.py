"""The embeddings index: one vector per (image, kind), each naming the model that made it.

Write half (`Embeddings.store`, inside the apply transaction): the `embeddings` rows,
float32 blobs on both engines; on PostgreSQL also the pgvector column (`index.pgvector`).
Read half (`Embeddings.search`): every image of a (organisation, kind, model) slot, within
a scope, whose cosine similarity reaches a threshold. On SQLite the vectors are searched in
memory (`index.vectors`), kept in step through `follow`, which the worker calls after each
committed operation; on PostgreSQL several processes share the database, so each search
reads it (pgvector) and `follow` has nothing to do. `image_vector` reads one stored vector.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Protocol

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray

from pixsearch.db.bulk import chunked
from pixsearch.db.dialect import dialect_of
from pixsearch.db.tables import embeddings, images
from pixsearch.index import pgvector
from pixsearch.index.vectors import Key, Matches, VectorIndex
from pixsearch.vocabulary.operations import Applied, VectorChange


class PkScope(Protocol):
    """The images a similarity filter is restricted to, as SQL and as fetched pks."""

    statement: sa.Select[Any]

    def __call__(self) -> NDArray[np.int64]: ...


class Embeddings(ABC):
    """The embeddings index of one engine."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def store(self, conn: sa.Connection, org_id: int, vectors: list[VectorChange]) -> None:
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
        if rows:
            self.insert(conn, rows)

    @abstractmethod
    def insert(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
        """Insert new `embeddings` rows."""

    @abstractmethod
    def search(
        self,
        conn: sa.Connection,
        key: Key,
        query: NDArray[np.float32],
        threshold: float,
        scope: PkScope | None,
    ) -> Matches:
        """Every image of the slot (and of `scope`) with similarity >= threshold."""

    def follow(self, applied: Applied) -> None:
        """Learn what a committed operation changed (for indexes held in this process)."""
        return None

    def close(self) -> None:
        return None


class SQLiteEmbeddings(Embeddings):
    """Blobs in the database, searched in memory: one process owns a SQLite file."""

    def __init__(self, engine: sa.Engine) -> None:
        super().__init__(engine)
        self.vectors = VectorIndex(engine)

    def insert(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
        conn.execute(sa.insert(embeddings), rows)

    def search(
        self,
        conn: sa.Connection,
        key: Key,
        query: NDArray[np.float32],
        threshold: float,
        scope: PkScope | None,
    ) -> Matches:
        return self.vectors.search(key, query, threshold, scope)

    def follow(self, applied: Applied) -> None:
        self.vectors.apply(applied)

    def close(self) -> None:
        self.vectors.close()


class PostgresEmbeddings(Embeddings):
    """Blobs and pgvector columns, searched in the database: other processes write them."""

    def insert(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
        pgvector.insert_vectors(conn, rows)

    def search(
        self,
        conn: sa.Connection,
        key: Key,
        query: NDArray[np.float32],
        threshold: float,
        scope: PkScope | None,
    ) -> Matches:
        statement = scope.statement if scope is not None else None
        return pgvector.search(conn, key, query, threshold, statement)


# Built once: constructing the statement cost as much as running it, on every i~.
_IMAGE_VECTOR = (
    sa.select(embeddings.c.vector)
    .select_from(embeddings.join(images, images.c.id == embeddings.c.image_pk))
    .where(
        images.c.org_id == sa.bindparam("org_id"),
        images.c.image_id == sa.bindparam("image_id"),
        embeddings.c.kind == sa.bindparam("kind"),
        embeddings.c.model == sa.bindparam("model"),
    )
)


def image_vector(
    conn: sa.Connection, org_id: int, image_id: str, kind: str, model: str
) -> NDArray[np.float32] | None:
    """The stored vector of the organisation's image `image_id`, if it has one of `model`."""
    values = {"org_id": org_id, "image_id": image_id, "kind": kind, "model": model}
    rows = dialect_of(conn).select_rows(conn, _IMAGE_VECTOR, values)
    return np.frombuffer(rows[0][0], dtype=np.float32) if rows else None
