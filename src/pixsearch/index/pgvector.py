"""The embeddings index in PostgreSQL with pgvector: the vectors in the database, not in memory.

Several API processes share one database on PostgreSQL, and an in-memory index fed by
the in-process apply callback would miss vectors written by other worker processes; so
each search reads the `embedding` column (migration 0002) in the request's transaction.

A similarity filter wants every image of the filter's set with cosine similarity
(1 - pgvector's cosine distance) >= the threshold, exactly as the in-memory index does.
Scores are always the full-precision cosine of the stored float32 vector.

- HNSW (the per-dimension partial index of `ensure_hnsw_index`, over the vectors rounded
  to `halfvec`, migration 0009): the vectors that pass the filter (organisation, kind,
  model and the formula's metadata filters), nearest first, read through a cursor
  `HNSW_BATCH` at a time. With pgvector >= 0.8 the scan is iterative
  (`hnsw.iterative_scan`): it walks on through the graph as long as rows are read, at any
  selectivity, up to `HNSW_MAX_SCAN_TUPLES` visited; the planner may instead sort the
  filter's rows exactly, when it thinks that cheaper. The answer is complete when a whole
  batch is below the threshold (by more than halfvec's rounding): the relaxed order can
  return a nearer vector a little late, not a batch late. When the scan ends among hits
  (max_scan_tuples, or more than `HNSW_MAX_LIMIT` of them), exact search answers.
- Exact: the distance of every vector that passes the filter, the threshold in WHERE.

HNSW is approximate in one way only: the graph walk can fail to reach a vector above the
threshold, so a hit can be missing from the answer (never a wrong hit or a wrong score).
bench/pg_search.py measures it: recall@10 0.96-1.0 at 10^5 vectors, 0.91-1.0 at 10^6 in
clustered synthetic data (docs/performance.md). Exact search has no such miss.

pgvector 0.7 (halfvec, no iterative scan) returns at most `hnsw.ef_search` candidates
before the filter: a selective filter leaves few of them, and one below the threshold would
pass for a complete answer. There a filter that passes less than `EXACT_BELOW_SELECTIVITY`
of the indexed vectors goes to exact search directly, as pixsearch did before 0.8.
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

# The graph's build: m links a node, ef_construction candidates while linking (pgvector's
# defaults are 16 and 64). bench/pg_search.py, see docs/performance.md.
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64
# An HNSW scan's candidate list (hnsw.ef_search): its recall before iterating further, and
# without iterative scans (pgvector 0.7) the most vectors it returns before the filter.
# bench/pg_search.py at 1M (clusters of 1000), recall@10 unfiltered / 50 % filter:
# ef 100 0.75 / 0.81, ef 400 0.91 / 0.91, ef 1000 0.94 / 0.94 at +10 % time over 400.
HNSW_EF_SEARCH = 400
# Rows read from the scan at a time, until a whole batch is below the threshold.
HNSW_BATCH = 50
# Hits past this many are cheaper to find by exact search than through the graph (about
# 0.4 ms a hit, against a sequential scan).
HNSW_MAX_LIMIT = 5000
# Iterative scans in relaxed order: strict order drops the vectors it finds after a farther
# one was returned (recall@10 0.72-0.75 at 1M in bench/pg_search.py).
HNSW_ORDER = "relaxed_order"
# Vectors an iterative scan may visit (pgvector's default is 20000): beyond it, exact
# search costs less than walking on (a guess: not measured against the default).
HNSW_MAX_SCAN_TUPLES = 40_000
HNSW_SEARCH = (
    f"batches of {HNSW_BATCH} up to {HNSW_MAX_LIMIT}, ef_search {HNSW_EF_SEARCH}, "
    f"iterative {HNSW_ORDER}, max_scan_tuples {HNSW_MAX_SCAN_TUPLES}"
)
# pgvector 0.7 only (no iterative scan): below this share of the indexed vectors passing
# the filter, exact search directly (bench/pg_search.py on 0.6, 100k vectors).
EXACT_BELOW_SELECTIVITY = 0.05
# Slots this small are searched exactly: a scan of them costs less than the planning.
EXACT_MAX_ROWS = 2000
# Float slack on the distance bound in SQL; the threshold itself is applied in NumPy.
SLACK = 1e-5
# Cosine error of halfvec's rounding (11-bit mantissa: 2^-11 a component, well below this
# on a unit vector's cosine): the HNSW order may swap vectors that close.
HALFVEC_SLACK = 2e-3
# The version that brought iterative index scans.
ITERATIVE_SCAN = (0, 8)


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


def hnsw_index_sql(dim: int) -> str:
    """The HNSW index of vectors of `dim` dimensions: a partial expression index (the
    column is untyped, migration 0002 says why) over the vectors rounded to halfvec, half
    the size of full precision; the scores are computed from the column itself."""
    dim = int(dim)
    return (
        f"CREATE INDEX IF NOT EXISTS {hnsw_index_name(dim)} ON embeddings USING hnsw "
        f"((embedding::halfvec({dim})) halfvec_cosine_ops) "
        f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION}) "
        f"WHERE vector_dims(embedding) = {dim}"
    )


def ensure_hnsw_index(conn: sa.Connection, dim: int) -> None:
    """Create the HNSW index of vectors of `dim` dimensions the first time one is stored.

    Its first vectors are the ones of this transaction, so the build is instant; the
    advisory lock keeps two workers from creating it at once.
    """
    name = hnsw_index_name(dim)
    if conn.exec_driver_sql("SELECT to_regclass(%s)", (name,)).scalar() is not None:
        return
    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(2, int(dim))))
    conn.exec_driver_sql(hnsw_index_sql(dim))


def extension_version(conn: sa.Connection) -> tuple[int, ...]:
    """The installed pgvector's version, e.g. (0, 8, 6)."""
    text = conn.exec_driver_sql(
        "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
    ).scalar_one()
    return tuple(int(part) for part in str(text).split("."))


class HalfVector(UserDefinedType[str]):
    """pgvector's `halfvec(dim)`, for casts of a vector's text form."""

    cache_ok = True

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def get_col_spec(self, **kw: Any) -> str:
        return f"halfvec({int(self.dim)})"


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
    indexed, version = index_state(conn, dim)
    if indexed >= EXACT_MAX_ROWS:  # reltuples is -1 before the first ANALYZE
        iterative = version >= ITERATIVE_SCAN
        if iterative or passes_enough(conn, indexed, where):
            found = search_hnsw(conn, dim, query, threshold, where, iterative)
            if found is not None:
                return found
    return search_exact(conn, query, threshold, where)


def index_state(conn: sa.Connection, dim: int) -> tuple[float, tuple[int, ...]]:
    """The estimated rows of the dimension's HNSW index (-1 without one) and pgvector's
    version, in one round trip."""
    row = conn.exec_driver_sql(
        "SELECT (SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)), "
        "(SELECT extversion FROM pg_extension WHERE extname = 'vector')",
        (hnsw_index_name(dim),),
    ).one()
    version = tuple(int(part) for part in str(row[1]).split("."))
    return (-1.0 if row[0] is None else float(row[0])), version


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


def distance_to(query: NDArray[np.float32]) -> sa.ColumnElement[float]:
    """Full-precision cosine distance of the stored vector to the query."""
    target = sa.cast(sa.literal(vector_text(query), sa.Text), Vector())
    return sa.literal_column("embeddings.embedding").op("<=>", return_type=sa.Float)(target)


def passes_enough(conn: sa.Connection, indexed: float, where: Condition) -> bool:
    """Whether at least EXACT_BELOW_SELECTIVITY of the indexed vectors pass the filter
    (pgvector < 0.8, where HNSW filters only its ef_search candidates)."""
    wanted = int(EXACT_BELOW_SELECTIVITY * indexed)
    passing = sa.select(sa.literal(1)).select_from(embeddings).where(where).limit(wanted)
    count = conn.execute(sa.select(sa.func.count()).select_from(passing.subquery())).scalar_one()
    return bool(count >= wanted)


def search_hnsw(
    conn: sa.Connection,
    dim: int,
    query: NDArray[np.float32],
    threshold: float,
    where: Condition,
    iterative: bool,
) -> Matches | None:
    """The HNSW answer, or None when it cannot be known to hold every hit.

    One scan, read through a server-side cursor `HNSW_BATCH` rows at a time until a whole
    batch is below the threshold, so that the graph is walked only as far as the hits
    reach. The scan's order is relaxed (a vector found late may be nearer than one
    returned before it), hence a batch, not a row, ends it.
    """
    configure_scan(conn, iterative)
    statement = nearest(dim, query, where, HNSW_MAX_LIMIT if iterative else HNSW_EF_SEARCH)
    options = {"stream_results": True, "max_row_buffer": HNSW_BATCH}
    result = conn.execute(statement, execution_options=options)
    batches: list[Matches] = []
    try:
        while rows := result.fetchmany(HNSW_BATCH):
            batches.append(as_matches(rows))
            if batches[-1].scores.max() < threshold - HALFVEC_SLACK:
                pks = np.concatenate([batch.pks for batch in batches])
                scores = np.concatenate([batch.scores for batch in batches])
                keep = scores >= threshold
                return Matches(pks[keep], scores[keep])
    finally:
        result.close()
    return None  # the scan ended among hits (max_scan_tuples, or its limit)


def configure_scan(conn: sa.Connection, iterative: bool) -> None:
    """The transaction's HNSW scan settings."""
    settings = {"hnsw.ef_search": str(HNSW_EF_SEARCH)}
    if iterative:
        settings["hnsw.iterative_scan"] = HNSW_ORDER
        settings["hnsw.max_scan_tuples"] = str(HNSW_MAX_SCAN_TUPLES)
    calls = [sa.func.set_config(name, value, True) for name, value in settings.items()]
    conn.execute(sa.select(*calls))


def nearest(dim: int, query: NDArray[np.float32], where: Condition, limit: int) -> sa.Select[Any]:
    """The `limit` vectors that pass `where` nearest the query in the HNSW index's order,
    with their full-precision cosine distance."""
    rounded: sa.ColumnElement[Any] = sa.literal_column(f"embeddings.embedding::halfvec({int(dim)})")
    target = sa.cast(sa.literal(vector_text(query), sa.Text), HalfVector(dim))
    order = rounded.op("<=>", return_type=sa.Float)(target)
    return (
        sa.select(embeddings.c.image_pk, distance_to(query))
        .where(where)
        .order_by(order)
        .limit(limit)
    )


def search_exact(
    conn: sa.Connection, query: NDArray[np.float32], threshold: float, where: Condition
) -> Matches:
    """Every vector that passes the filter, its distance computed; no index.

    The distance is computed once, in a subquery that OFFSET 0 keeps the planner from
    merging: with the bound in the same WHERE, PostgreSQL evaluates it in the scan of
    embeddings, on every vector of the slot, before the join with the filter's pks.
    """
    distance = distance_to(query).label("distance")
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
