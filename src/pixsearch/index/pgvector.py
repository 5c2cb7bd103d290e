"""The embeddings index in PostgreSQL with pgvector: the vectors in the database, not in memory.

Several API processes share one database on PostgreSQL, and an in-memory index fed by
the in-process apply callback would miss vectors written by other worker processes; so
each search reads the `embedding` column (migration 0002) in the request's transaction.

A similarity filter wants every image of the filter's set with cosine similarity
(1 - pgvector's cosine distance) >= the threshold, exactly as the in-memory index does:

- HNSW (the per-dimension partial index of `ensure_hnsw_index`): the
  `HNSW_EF_SEARCH` nearest vectors, then the filter (organisation, kind, model and the
  formula's metadata filters) on them. pgvector 0.6 has no iterative scan, so the answer
  is complete only when it reaches past the threshold: when at least one returned vector
  is below it, every vector above it was among the candidates. Otherwise (too many hits,
  or a filter that left nothing) it falls back to exact search.
- Exact: the distance of every vector that passes the filter, the threshold in WHERE.

A filter that passes less than `EXACT_BELOW_SELECTIVITY` of the indexed vectors goes to
exact search directly: HNSW would almost surely come back short and cost a fallback.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlalchemy.types import UserDefinedType

from pixsearch.db.functions import Condition
from pixsearch.db.tables import embeddings
from pixsearch.index.vectors import Key, Matches

# Candidates of one HNSW scan (hnsw.ef_search, set per query; also the LIMIT).
# bench/pg_search.py, 100k 512-d vectors: recall@10 1.0 without filter at 40, 100 and 200;
# with a 20 % filter 0.77, 0.98, 0.98. 100 keeps weakly filtered answers complete.
HNSW_EF_SEARCH = 100
# Below this share of the indexed vectors passing the filter, exact search is as fast as
# HNSW + fallback or faster (bench/pg_search.py, 100k 512-d vectors, 2 shared cores, mean
# ms exact / HNSW + fallback: 1 % 19 / 23, 5 % 30 / 35, 10 % 104 / 47; unfiltered exact 78).
EXACT_BELOW_SELECTIVITY = 0.05
# Slots this small are searched exactly: a scan of them costs less than the planning.
EXACT_MAX_ROWS = 2000
# Float slack on the distance bound in SQL; the threshold itself is applied in NumPy.
SLACK = 1e-5


INSERT_WITH_PGVECTOR = sa.text(
    "INSERT INTO embeddings (image_pk, kind, org_id, model, vector, embedding) "
    "VALUES (:image_pk, :kind, :org_id, :model, :vector, CAST(:embedding AS vector))"
)


def insert_vectors(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """Insert embedding rows with their pgvector column; index each new dimension."""
    for row in rows:
        row["embedding"] = vector_text(np.frombuffer(row["vector"], np.float32))
    conn.execute(INSERT_WITH_PGVECTOR, rows)
    for dim in {len(row["vector"]) // 4 for row in rows}:
        ensure_hnsw_index(conn, dim)


def vector_text(vector: NDArray[np.float32]) -> str:
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


class Vector(UserDefinedType[str]):
    """pgvector's type, `vector` or `vector(dim)`, for casts of its text form."""

    cache_ok = True

    def __init__(self, dim: int | None = None) -> None:
        self.dim = dim

    def get_col_spec(self, **kw: Any) -> str:
        return "vector" if self.dim is None else f"vector({int(self.dim)})"


def search(
    conn: sa.Connection,
    key: Key,
    query: NDArray[np.float32],
    threshold: float,
    scope: sa.Select[Any] | None = None,
) -> Matches:
    """Every image of the slot (and of `scope`'s pks) with similarity >= threshold."""
    query = np.asarray(query, dtype=np.float32).reshape(-1)
    dim = len(query)
    where = slot_condition(key, dim, scope)
    if prefers_hnsw(conn, dim, where):
        found = search_hnsw(conn, dim, query, threshold, where)
        if found is not None:
            return found
    return search_exact(conn, query, threshold, where)


def slot_condition(key: Key, dim: int, scope: sa.Select[Any] | None) -> Condition:
    """Vectors of the key's organisation, kind and model, of `dim` dimensions, in `scope`.

    The dimension is a literal so that the planner can match the partial HNSW index.
    """
    org_id, kind, model = key
    parts = [
        embeddings.c.org_id == org_id,
        embeddings.c.kind == kind,
        embeddings.c.model == model,
        sa.literal_column(f"vector_dims(embeddings.embedding) = {int(dim)}", sa.Boolean),
    ]
    if scope is not None:
        parts.append(embeddings.c.image_pk.in_(scope))
    return sa.and_(*parts)


def distance_to(query: NDArray[np.float32], dim: int | None) -> sa.ColumnElement[float]:
    """Cosine distance of `embedding` (typed as the HNSW index has it, when `dim`) to query."""
    column = "embeddings.embedding" if dim is None else f"embeddings.embedding::vector({dim})"
    target = sa.cast(sa.literal(vector_text(query), sa.Text), Vector(dim))
    return sa.literal_column(column).op("<=>", return_type=sa.Float)(target)


def prefers_hnsw(conn: sa.Connection, dim: int, where: Condition) -> bool:
    """Whether the dimension has an HNSW index and enough of it passes the filter."""
    indexed = conn.exec_driver_sql(
        "SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", (hnsw_index_name(dim),)
    ).scalar()
    if indexed is None or indexed < EXACT_MAX_ROWS:
        return False  # no index, or small (reltuples is -1 before the first ANALYZE)
    wanted = int(EXACT_BELOW_SELECTIVITY * indexed)
    passing = sa.select(sa.literal(1)).select_from(embeddings).where(where).limit(wanted)
    count = conn.execute(sa.select(sa.func.count()).select_from(passing.subquery())).scalar_one()
    return bool(count >= wanted)


def search_hnsw(
    conn: sa.Connection, dim: int, query: NDArray[np.float32], threshold: float, where: Condition
) -> Matches | None:
    """The HNSW answer, or None when it cannot be known to hold every hit."""
    conn.execute(sa.select(sa.func.set_config("hnsw.ef_search", str(HNSW_EF_SEARCH), True)))
    distance = distance_to(query, dim)
    statement = (
        sa.select(embeddings.c.image_pk, distance)
        .where(where)
        .order_by(distance)
        .limit(HNSW_EF_SEARCH)
    )
    matches = as_matches(conn.execute(statement).all())
    if not len(matches.pks) or matches.scores.min() >= threshold:
        return None
    keep = matches.scores >= threshold
    return Matches(matches.pks[keep], matches.scores[keep])


def search_exact(
    conn: sa.Connection, query: NDArray[np.float32], threshold: float, where: Condition
) -> Matches:
    """Every vector that passes the filter, its distance computed; no index.

    The distance is computed once, in a subquery that OFFSET 0 keeps the planner from
    merging: with the bound in the same WHERE, PostgreSQL evaluates it in the scan of
    embeddings, on every vector of the slot, before the join with the filter's pks.
    """
    distance = distance_to(query, None).label("distance")
    passing = sa.select(embeddings.c.image_pk, distance).where(where).offset(0).subquery()
    statement = sa.select(passing.c.image_pk, passing.c.distance).where(
        passing.c.distance <= 1.0 - threshold + SLACK
    )
    matches = as_matches(conn.execute(statement).all())
    keep = matches.scores >= threshold
    return Matches(matches.pks[keep], matches.scores[keep])


def as_matches(rows: Any) -> Matches:
    """(pk, cosine distance) rows as pks and cosine similarities."""
    if not rows:
        return Matches.empty()
    pks = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
    distances = np.fromiter((row[1] for row in rows), dtype=np.float64, count=len(rows))
    return Matches(pks, np.asarray(1.0 - distances, dtype=np.float32))
