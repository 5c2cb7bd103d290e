"""The embeddings index in PostgreSQL with pgvector: the vectors in the database, not in memory.

Several API processes share one database on PostgreSQL, and an in-memory index fed by
the in-process apply callback would miss vectors written by other worker processes; so
each search reads the `embedding` column (migration 0002) in the request's transaction.

A similarity filter wants every image of the filter's set with cosine similarity
(1 - pgvector's cosine distance) >= the threshold, exactly as the in-memory index does.
Scores are always the full-precision cosine of the stored float32 vector.

- HNSW (the per-dimension partial index of `ensure_hnsw_index`, over the vectors rounded
  to `halfvec`, migration 0011_pgvector2): one statement walks the dimension's vectors
  nearest first, each with its full-precision distance and whether it is of the slot
  (organisation, kind, model), the server itself ends the walk by the stop rule, and the
  formula's scope is probed by pk for the slot's rows within the threshold's distance. With
  pgvector >= 0.8 the scan is iterative (`hnsw.iterative_scan`, relaxed order): walk after
  walk of `HNSW_EF_SEARCH` candidates, each sorted, a later one possibly nearer. The
  answer is complete when a whole walk brought no vector within the threshold (so many
  tuples in a row beyond it, and not before `HNSW_FIRST_WALKS` walks unless a walk's worth
  of vectors within it came first): counted in tuples, not in rows that pass the filter,
  so the cost is the same at any selectivity. When the scan ends among near vectors
  (`HNSW_MAX_SCAN_TUPLES`), exact search answers.
- Exact: the distance of every vector that passes the filter, the threshold in WHERE.

HNSW is approximate in one way only: the graph walk can fail to reach a vector above the
threshold, so a hit can be missing from the answer (never a wrong hit or a wrong score);
at worst, a first walk that stays in another cluster for all of `HNSW_FIRST_WALKS` walks
misses every hit.
bench/pg_search.py measures it (docs/performance.md); in a graph built with too few
candidates (`HNSW_EF_CONSTRUCTION`) some vectors have no link to them at all. Exact search
has no such miss.

pgvector 0.7 (halfvec, no iterative scan) returns at most `hnsw.ef_search` candidates
before the filter: a selective filter leaves few of them, and one below the threshold would
pass for a complete answer. There a filter that passes less than `EXACT_BELOW_SELECTIVITY`
of the indexed vectors goes to exact search directly, as pixsearch did before 0.8.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlalchemy.types import UserDefinedType

from pixsearch.db.functions import Condition
from pixsearch.db.tables import embeddings
from pixsearch.index.vectors import Key, Matches

# The graph's build: m links a node, ef_construction candidates while linking (pgvector's
# defaults are 16 and 64; migration 0011_pgvector2). At 10^5 clustered vectors (bench/pg_search.py)
# the share of hits an unbounded scan reaches: 16/64 0.991, 24/64 0.996, 32/64 0.996,
# 16/128 0.9998, 16/256 1.0, built in 43, 72, 69, 59, 97 s; at 10^6, 16/64 reaches 0.947.
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 128
# An HNSW scan's candidate list (hnsw.ef_search): the tuples of one walk, the run beyond
# the threshold that ends an iterative scan, and without iterative scans (pgvector 0.7) the
# most vectors it returns before the filter. bench/pg_search.py at 1M (graph 16/128), 300
# queries, recall@10 none / 50 / 10 / 1 % filter: ef 200 0.996 / 0.997 / 0.998 / 0.997, ef
# 100 0.995 / 0.997 / 0.998 / 0.997 with p50 9-13 % lower (the walk that ends a scan, among
# other clusters' vectors, is half as long); 100 queries: ef 70 the same recall, ef 50
# 0.984-0.989. (With one walk before the first hit, ef 100 lost recall:
# 0.937-0.963; see HNSW_FIRST_WALKS.)
HNSW_EF_SEARCH = 100
# Iterative scans in relaxed order: strict order drops the vectors it finds after a farther
# one was returned (recall@10 0.72-0.75 at 1M in bench/pg_search.py).
HNSW_ORDER = "relaxed_order"
# Vectors an iterative scan may visit, and the most tuples its statement reads: past it
# exact search answers (at 10^6 vectors about 0.5 s of graph against 3.6 s of exact search
# unfiltered).
HNSW_MAX_SCAN_TUPLES = 40_000
# Nor more than this share of the indexed vectors (`scan_limit`): past a 25th of them the
# walk costs more than exact search (at 10^5 and 10^6 about 18 us a tuple of the walk
# against 0.8 us a vector of the exact scan). And the LIMIT tells the planner how much of
# the index the scan reads: with 40,000 of 10^5 it sorted the whole slot instead (160-167
# ms a search, against 20-25 ms through the graph with 4,000 or 10,000).
HNSW_MAX_SCAN_SHARE = 1 / 25
# Walks a scan takes before it may end, unless a walk's worth (HNSW_EF_SEARCH) of vectors
# within the radius came first. The first walk descends from the graph's entry point and
# can stay in another cluster. In two of four builds at 10^6 (bench/pg_search.py, m 16 /
# ef_construction 128) one of the bench's 30 queries came back empty (recall@10 0.96, not
# 0.99); on one of them, of 1,500 queries in walks of 200, 28 had no hit in their first
# walk, 8 none in their first 400 tuples, 2 none in 600, none in 800. So 1,000 tuples: ten
# walks of 100. A first walk can also touch the query's cluster at one vector whose links
# lead elsewhere: with walks of 100, one query of 100 ended so with 1 of its 1,034 hits
# (recall@10 0.985 against 0.995 with walks of 200), until the rule waited for a walk's
# worth of them. A query with fewer hits than that pays the walks: at 10^6 one with a
# single hit 19-20 ms p50, not 8 ms.
HNSW_FIRST_WALKS = 10
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
    """pgvector's text form of a vector: nine significant digits, which read back as the
    same float32 (at 512 dimensions 7 KB in 0.09 ms, against 11 KB in 0.24 ms as repr)."""
    values = np.asarray(vector, dtype=np.float32).tolist()
    return "[" + ",".join(["%.9g"] * len(values)) % tuple(values) + "]"


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
    return version_tuple(text)


def version_tuple(text: object) -> tuple[int, ...]:
    """An extension's version as numbers: '0.8.6' -> (0, 8, 6)."""
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


def search_settings() -> str:
    """The HNSW search's settings in words, as they stand (the benchmark sets some)."""
    return (
        f"ef_search {HNSW_EF_SEARCH}, iterative {HNSW_ORDER}, max_scan_tuples "
        f"{HNSW_MAX_SCAN_TUPLES}, first walks {HNSW_FIRST_WALKS}"
    )


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
    indexed, version = prepare_scan(conn, dim)
    if indexed >= EXACT_MAX_ROWS:  # reltuples is -1 before the first ANALYZE
        iterative = version >= ITERATIVE_SCAN
        if iterative or passes_enough(conn, indexed, where):
            found = search_hnsw(conn, key, query, threshold, scope, iterative, indexed)
            if found is not None:
                return found
    return search_exact(conn, query, threshold, where)


def prepare_scan(conn: sa.Connection, dim: int) -> tuple[float, tuple[int, ...]]:
    """The estimated rows of the dimension's HNSW index (-1 without one) and pgvector's
    version, with the transaction's scan settings applied, in one round trip (a search is
    a few of them: this one, and the scan's).

    The settings: `HNSW_EF_SEARCH`, JIT off (the scan's LIMIT makes the planner expect a
    long query and compile it, tens of ms, for a few thousand rows), and from pgvector 0.8
    the iterative scan. The version is compared in the server: a CASE never calls the
    set_config of a setting that an older pgvector does not have. They hold until the
    transaction ends, so an exact search after them runs with them too.
    """
    row = conn.exec_driver_sql(
        "SELECT (SELECT reltuples FROM pg_class WHERE oid = to_regclass(%(index)s)), "
        "extversion, set_config('hnsw.ef_search', %(ef_search)s, true), "
        "set_config('jit', 'off', true), "
        "CASE WHEN string_to_array(extversion, '.')::int[] >= %(iterative_since)s::int[] "
        "THEN set_config('hnsw.iterative_scan', %(order)s, true) "
        "|| set_config('hnsw.max_scan_tuples', %(max_scan_tuples)s, true) END "
        "FROM pg_extension WHERE extname = 'vector'",
        {
            "index": hnsw_index_name(dim),
            "ef_search": str(HNSW_EF_SEARCH),
            "iterative_since": list(ITERATIVE_SCAN),
            "order": HNSW_ORDER,
            "max_scan_tuples": str(HNSW_MAX_SCAN_TUPLES),
        },
    ).one()
    return (-1.0 if row[0] is None else float(row[0])), version_tuple(row[1])


def slot_condition(key: Key, dim: int, scope: sa.Select[Any] | None) -> Condition:
    """Vectors of the key's organisation, kind and model, of `dim` dimensions, in `scope`.

    The dimension is a literal so that the planner can match the partial HNSW index.
    """
    org_id, kind, model = key
    parts = [
        embeddings.c.org_id == org_id,
        embeddings.c.kind == kind,
        embeddings.c.model == model,
        indexed_dimension(dim),
    ]
    if scope is not None:
        parts.append(embeddings.c.image_pk.in_(scope))
    return sa.and_(*parts)


def indexed_dimension(dim: int) -> sa.ColumnElement[bool]:
    """Vectors of `dim` dimensions: the predicate of their partial HNSW index, a literal so
    that the planner can match it."""
    return sa.literal_column(f"vector_dims(embeddings.embedding) = {int(dim)}", sa.Boolean)


def query_vector(query: NDArray[np.float32]) -> sa.BindParameter[str]:
    """The query's text form as one parameter, however many casts of it a statement reads
    (at 512 dimensions 7 KB)."""
    return sa.literal(vector_text(query), sa.Text)


def distance_to(query: sa.BindParameter[str]) -> sa.ColumnElement[float]:
    """Full-precision cosine distance of the stored vector to the query (a vector's text
    form, `query_vector`)."""
    target = sa.cast(query, Vector())
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
    key: Key,
    query: NDArray[np.float32],
    threshold: float,
    scope: sa.Select[Any] | None,
    iterative: bool,
    indexed: float,
) -> Matches | None:
    """The HNSW answer, or None when it cannot be known to hold every hit (`indexed`: the
    index's estimated rows).

    One statement, one round trip: the scan of the slot's dimension (`nearest`), every
    tuple with its distance, the stop rule over them (`complete_scan`), which counts the
    graph's tuples, not the filter's (at a 1 % filter a run of rows is a hundred times as
    many tuples), and the hits among the tuples up to the end (`hit`).

    The scan's relaxed order sorts each of its iterations (`HNSW_EF_SEARCH` tuples, the
    candidates of one walk) but not across them: a later iteration may bring nearer
    vectors. The answer is complete when a whole iteration brought no vector within the
    threshold's radius: `HNSW_EF_SEARCH` tuples in a row beyond it (a run that long holds
    the start of an iteration, and an iteration that starts beyond the radius stays beyond
    it; rows sharing one vector are one candidate of a walk, so among duplicates the run
    may end inside a walk, a miss of the same kind as a vector the walk never reaches).
    And a scan ends only after `HNSW_FIRST_WALKS` walks, unless a walk's worth of vectors
    within the radius came before: the first walks can miss the query's neighbourhood
    altogether, or touch it at a vector whose links lead elsewhere.
    """
    # the settings are prepare_scan's; without iterative scans (pgvector 0.7) the one walk
    # is the whole scan, sorted
    run, fewest = (HNSW_EF_SEARCH, HNSW_FIRST_WALKS * HNSW_EF_SEARCH) if iterative else (1, 1)
    limit = scan_limit(indexed, run, fewest) if iterative else HNSW_EF_SEARCH
    statement, parameters = scan_statement(key, query, threshold, scope, run, fewest, limit)
    rows = conn.execute(statement, parameters).all()
    pks, distances, ends = as_columns(rows, (np.int64, np.float64, np.bool_))
    if not ends.any():
        return None  # the scan ended among vectors within the radius
    return at_or_above(as_matches(pks[~ends], distances[~ends]), threshold)


def scan_limit(indexed: float, run: int, fewest: int) -> int:
    """The most tuples an iterative scan of an index of `indexed` vectors reads:
    `HNSW_MAX_SCAN_TUPLES`, and no more than `HNSW_MAX_SCAN_SHARE` of the index, but room
    for the first walks and a run after them (`fewest` + `run`), as the stop rule needs."""
    return int(min(HNSW_MAX_SCAN_TUPLES, max(fewest + run, indexed * HNSW_MAX_SCAN_SHARE)))


def scan_statement(
    key: Key,
    query: NDArray[np.float32],
    threshold: float,
    scope: sa.Select[Any] | None,
    run: int,
    fewest: int,
    limit: int,
) -> tuple[sa.Select[tuple[int, float, bool]], dict[str, Any]]:
    """The HNSW statement and its parameters: the hits of the slot and `scope` up to the
    first `run` tuples in a row beyond the threshold's radius (not within the first
    `fewest` tuples, unless `run` tuples within it came before) in a scan of at most
    `limit` tuples, and the tuple that ends that run (`ends` true): (image_pk, distance,
    ends)."""
    org_id, kind, model = key
    marked = complete_scan(len(query), run, fewest)
    statement = sa.select(marked.c.image_pk, marked.c.distance, marked.c.ends).where(
        marked.c.ended == 0, marked.c.ends | hit(marked, scope)
    )
    parameters = {
        "hnsw_query": vector_text(query),
        "hnsw_org_id": org_id,
        "hnsw_kind": kind,
        "hnsw_model": model,
        # the scan's order is halfvec's, the distances are not
        "hnsw_radius": 1.0 - threshold + HALFVEC_SLACK,
        "hnsw_bound": 1.0 - threshold + SLACK,
        "scan_limit": limit,
    }
    return statement, parameters


@functools.lru_cache(maxsize=64)
def complete_scan(dim: int, run: int, fewest: int) -> sa.Subquery:
    """The scan of `dim` dimensions (`nearest`), each tuple marked by the stop rule: `ends`
    where the first `run` tuples in a row beyond the radius end (not within the first
    `fewest` tuples, unless `run` tuples within it came before), and `ended`, the ends
    before the tuple. The hits are the tuples with `ended` 0 that pass `hit`, and the
    ending tuple tells the answer complete (none when the scan ran out first).

    The rule runs in the server, so a search is one round trip, not a cursor's fetch after
    fetch. Two levels of windows over the scan's order (which the planner knows the
    subqueries keep, so nothing is sorted): the tuples within the radius among the last
    `run`, and up to here, mark each tuple that ends a run; then the ends before each
    tuple are counted, and `ended = 0` in the WHERE above is a window run condition
    (PostgreSQL 15), which stops the WindowAgg, and with it the index scan, at the first
    tuple after the first end.

    Built once for each dimension and rule: the slot, the query, the radius, the bound and
    the scan's LIMIT are parameters (`hnsw_*` and `scan_limit`, `scan_statement`), and the
    scope is probed outside it (`hit`), so a search builds only its outer SELECT (the whole
    statement took 1.7 ms to build, of a search's 30 at 10^6).
    """
    query = sa.bindparam("hnsw_query", type_=sa.Text)
    in_slot = sa.and_(
        embeddings.c.org_id == sa.bindparam("hnsw_org_id"),
        embeddings.c.kind == sa.bindparam("hnsw_kind"),
        embeddings.c.model == sa.bindparam("hnsw_model"),
    )
    walk = nearest(dim, query, distance_to(query), in_slot).subquery("walk")
    radius = sa.bindparam("hnsw_radius", type_=sa.Float)
    order, near = walk.c.halfvec_distance, walk.c.distance <= radius
    recent, so_far = (-(run - 1), 0), (None, 0)
    inside = sa.func.count().filter(near).over(order_by=order, rows=recent)
    seen = sa.func.count().filter(near).over(order_by=order, rows=so_far)
    position = sa.func.row_number().over(order_by=order, rows=recent)
    ends = (position >= run) & (inside == 0) & ((seen >= run) | (position >= fewest))
    runs = sa.select(walk, ends.label("ends")).subquery("runs")
    before = (None, -1)  # every tuple before this one
    ended = sa.func.count().filter(runs.c.ends).over(order_by=runs.c.halfvec_distance, rows=before)
    marked = sa.select(runs, ended.label("ended")).subquery("marked")
    marked.c  # noqa: B018 - its columns are made here, once, not by threads sharing it
    return marked


def hit(marked: sa.Subquery, scope: sa.Select[Any] | None) -> sa.ColumnElement[bool]:
    """Whether a tuple of `complete_scan` is a hit: of the slot, within the threshold's
    distance (`hnsw_bound`) and in `scope`.

    The scope is probed by the tuple's pk, and only for a near tuple of the slot: a
    correlated scalar subquery, which the planner cannot turn into a hash of the whole
    scope (as it does `IN` or `EXISTS`, expecting every row of the scan's LIMIT), a scan of
    the images for a few thousand rows. A probe costs about 6 us (an index descent and a
    row of the images), and a search's scan returns a run of far tuples after its hits
    (the stop rule's), which are no hit whatever the scope says. CASE, as PostgreSQL
    promises no order of evaluation within an AND.
    """
    near = marked.c.in_slot & (marked.c.distance <= sa.bindparam("hnsw_bound", type_=sa.Float))
    if scope is None:
        return near
    pks = scope.subquery("scope")
    probe = sa.select(sa.literal(1)).where(pks.c[0] == marked.c.image_pk).limit(1)
    return sa.case((near, probe.scalar_subquery().is_not(None)), else_=sa.false())


def as_columns(rows: Sequence[Any], dtypes: tuple[type[Any], ...]) -> tuple[NDArray[Any], ...]:
    """Rows as one array a column, of these dtypes, by one transposition in C: 24 us for
    200 rows of the HNSW scan, against 43 us with a generator a column."""
    if not rows:
        return tuple(np.zeros(0, dtype=dtype) for dtype in dtypes)
    columns = zip(*rows, strict=True)
    return tuple(np.array(cells, dtype=dtype) for cells, dtype in zip(columns, dtypes, strict=True))


def at_or_above(matches: Matches, threshold: float) -> Matches:
    """The matches scoring at least the threshold (SQL's bound has SLACK)."""
    keep = matches.scores >= threshold
    return Matches(matches.pks[keep], matches.scores[keep])


def nearest(
    dim: int,
    query: sa.BindParameter[str],
    distance: sa.ColumnElement[float],
    in_slot: sa.ColumnElement[bool],
    limit: int | None = None,
) -> sa.Select[Any]:
    """The `limit` vectors of `dim` dimensions nearest the query (a vector's text form) in
    the HNSW index's order (without `limit`, as many as the parameter `scan_limit` says at
    execution), with `distance` (the full-precision cosine distance, `distance_to(query)`),
    `in_slot` (whether the row is of the searched slot, not in WHERE: the index holds every
    slot's vectors of that dimension, and the scan returns every tuple it walks through,
    in its own order) and `halfvec_distance`, the order's key."""
    rounded: sa.ColumnElement[Any] = sa.literal_column(f"embeddings.embedding::halfvec({int(dim)})")
    target = sa.cast(query, HalfVector(dim))
    order = rounded.op("<=>", return_type=sa.Float)(target)
    return (
        sa.select(
            embeddings.c.image_pk,
            distance.label("distance"),
            in_slot.label("in_slot"),
            order.label("halfvec_distance"),
        )
        .where(indexed_dimension(dim))
        .order_by(order)
        # in the SQL text, so that a generic plan (psycopg prepares a statement run five
        # times) is costed on it, as each custom plan is
        .limit(sa.bindparam("scan_limit", limit, type_=sa.Integer, literal_execute=True))
    )


def search_exact(
    conn: sa.Connection, query: NDArray[np.float32], threshold: float, where: Condition
) -> Matches:
    """Every vector that passes the filter, its distance computed; no index.

    The distance is computed once, in a subquery that OFFSET 0 keeps the planner from
    merging: with the bound in the same WHERE, PostgreSQL evaluates it in the scan of
    embeddings, on every vector of the slot, before the join with the filter's pks.
    """
    distance = distance_to(query_vector(query)).label("distance")
    passing = sa.select(embeddings.c.image_pk, distance).where(where).offset(0).subquery()
    statement = sa.select(passing.c.image_pk, passing.c.distance).where(
        passing.c.distance <= 1.0 - threshold + SLACK
    )
    pks, distances = as_columns(conn.execute(statement).all(), (np.int64, np.float64))
    return at_or_above(as_matches(pks, distances), threshold)


def as_matches(pks: NDArray[np.int64], distances: NDArray[np.float64]) -> Matches:
    """Pks and their cosine distances as pks and cosine similarities."""
    return Matches(pks, np.asarray(1.0 - distances, dtype=np.float32))
