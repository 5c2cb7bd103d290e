"""pgvector search on PostgreSQL: HNSW answers only when complete, exact otherwise; the
halfvec HNSW index and migration 0009 that builds it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import numpy as np
import pytest
import sqlalchemy as sa
from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pixsearch.db.dialect import require_postgres
from pixsearch.db.engine import create_db_engine, writer
from pixsearch.db.migrate import alembic_config, upgrade
from pixsearch.db.tables import images, organisations
from pixsearch.index import pgvector as pgvectors
from pixsearch.index.embeddings import PostgresEmbeddings
from pixsearch.search.compiler import select_pks
from pixsearch.search.parser import parse_formula
from tests.postgres import PostgresCluster, no_postgres

DIM = 16
SIZE = 400
KEY = (1, "clip", "tiny")


@pytest.fixture(params=["planner", "hnsw"])
def filled(
    request: pytest.FixtureRequest,
    postgres: PostgresCluster | None,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[sa.Engine, np.ndarray, str]]:
    """SIZE images with widths 0..99 and clustered unit vectors, indexed and analysed.

    "planner": so few rows that the planner sorts them rather than read the graph, and a
    walk of the graph (ef_search) as large as the slot, so that the HNSW answer, when
    there is one, is exact too. "hnsw" forbids the sort (the way a large slot makes it too
    dear) and walks 40 vectors at a time, as 200 of 10^6, so the HNSW scan itself is tested.
    """
    if postgres is None:
        no_postgres()
    monkeypatch.setattr(pgvectors, "HNSW_EF_SEARCH", SIZE if request.param == "planner" else 40)
    rng = np.random.default_rng(1)
    centres = rng.standard_normal((20, DIM))
    vectors = centres[rng.integers(0, 20, SIZE)] + 0.3 * rng.standard_normal((SIZE, DIM))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    with postgres.database() as url:
        engine = create_db_engine(url)
        with writer(engine).begin() as conn:
            conn.execute(sa.insert(organisations).values(id=1, name="acme", created_at=0))
            rows = [
                {
                    "id": i + 1,
                    "org_id": 1,
                    "image_id": f"i{i}",
                    "width": i % 100,
                    "created_at": i,
                    "updated_at": i,
                }
                for i in range(SIZE)
            ]
            conn.execute(sa.insert(images), rows)
            PostgresEmbeddings(engine).store(
                conn, 1, [(i + 1, "clip", "tiny", vectors[i]) for i in range(SIZE)]
            )
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE embeddings")
            if request.param == "hnsw":
                name = conn.exec_driver_sql("SELECT current_database()").scalar_one()
                conn.exec_driver_sql(f"ALTER DATABASE {name} SET enable_sort = off")
        engine.dispose()  # new sessions read the database's setting
        yield engine, vectors, request.param
        engine.dispose()


def expected(vectors: np.ndarray, query: np.ndarray, threshold: float, mask: np.ndarray) -> set:
    scores = vectors @ query
    return set((np.flatnonzero((scores >= threshold - 1e-6) & mask) + 1).tolist())


def paths_taken(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the search halves each search calls, in order."""
    paths: list[str] = []
    for name in ("search_hnsw", "search_exact"):
        original = getattr(pgvectors, name)
        monkeypatch.setattr(
            pgvectors, name, lambda *a, _f=original, _n=name: paths.append(_n) or _f(*a)
        )
    return paths


def assert_answers(
    filled: tuple[sa.Engine, np.ndarray, str],
    formula: str,
    threshold: float,
    queries: np.ndarray,
) -> None:
    """Every query's answer against NumPy's brute force over the filter's rows: equal when
    the planner sorts the rows (exact), and through the graph never a false hit, never a
    wrong score, and at most a few hits missed (HNSW's one approximation: a vector the
    scan never reaches; at 400 vectors of 16 d about 1 query in 20 misses one)."""
    engine, vectors, plan = filled
    node = parse_formula(formula)
    scope = select_pks(node, 1) if node is not None else None
    widths = np.arange(SIZE) % 100
    mask = widths < (int(formula[2:]) if formula else 100)
    for query in queries:
        with engine.connect() as conn:
            found = pgvectors.search(conn, KEY, query, threshold, scope)
        wanted = expected(vectors, query, threshold, mask)
        if plan == "planner":
            assert set(found.pks.tolist()) == wanted
        else:
            assert set(found.pks.tolist()) <= wanted
            assert len(found.pks) >= 0.9 * len(wanted) - 1
        np.testing.assert_allclose(found.scores, vectors[found.pks - 1] @ query, atol=1e-5)


@pytest.mark.parametrize("formula", ["", "w<50", "w<2"])
@pytest.mark.parametrize("threshold", [0.95, 0.8, 0.3, -1.0])
def test_every_hit_above_the_threshold_through_iterative_hnsw_or_exact(
    filled: tuple[sa.Engine, np.ndarray, str],
    monkeypatch: pytest.MonkeyPatch,
    formula: str,
    threshold: float,
) -> None:
    """pgvector 0.8: HNSW with iterative scans at any selectivity, exact only when the
    scan ends before the threshold."""
    _, vectors, plan = filled
    monkeypatch.setattr(pgvectors, "EXACT_MAX_ROWS", 0)
    paths = paths_taken(monkeypatch)
    assert_answers(filled, formula, threshold, vectors[:5])
    assert paths.count("search_hnsw") == 5  # no selectivity guess in front of it
    if threshold == -1.0:
        assert paths.count("search_exact") == 5  # every image qualifies: HNSW cannot know
    elif threshold == 0.95 and plan == "hnsw":
        assert paths.count("search_exact") < 5


@pytest.mark.parametrize("formula", ["", "w<50", "w<2"])
@pytest.mark.parametrize("threshold", [0.95, 0.3])
def test_without_iterative_scans_a_selective_filter_goes_exact(
    filled: tuple[sa.Engine, np.ndarray, str],
    monkeypatch: pytest.MonkeyPatch,
    formula: str,
    threshold: float,
) -> None:
    """pgvector 0.7 (no iterative scan, told here by a version it cannot reach): a filter
    below EXACT_BELOW_SELECTIVITY is searched exactly, others through HNSW's candidates."""
    _, vectors, _ = filled
    monkeypatch.setattr(pgvectors, "EXACT_MAX_ROWS", 0)
    monkeypatch.setattr(pgvectors, "ITERATIVE_SCAN", (99, 0))
    paths = paths_taken(monkeypatch)
    assert_answers(filled, formula, threshold, vectors[:5])
    if formula == "w<2":
        assert set(paths) == {"search_exact"}
    elif threshold == 0.95:
        assert "search_hnsw" in paths and paths.count("search_exact") < 5


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    picks=st.lists(st.integers(0, SIZE - 1), min_size=1, max_size=3),
    threshold=st.floats(-0.2, 0.99),
    width=st.sampled_from([None, 1, 5, 20, 60, 100]),
    ef_search=st.sampled_from([4, 40]),
)
def test_random_filters_and_thresholds_match_brute_force(
    filled: tuple[sa.Engine, np.ndarray, str],
    picks: list[int],
    threshold: float,
    width: int | None,
    ef_search: int,
) -> None:
    """Random queries (stored vectors plus noise), thresholds, filters and, through the
    graph, walks of 4 or 40 vectors (at 4 most hits come in later walks), against brute
    force (assert_answers)."""
    _, vectors, _ = filled
    rng = np.random.default_rng(len(picks))
    queries = vectors[picks] + 0.1 * rng.standard_normal((len(picks), DIM)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pgvectors, "EXACT_MAX_ROWS", 0)
        if filled[2] == "hnsw":
            patch.setattr(pgvectors, "HNSW_EF_SEARCH", ef_search)
        assert_answers(filled, "" if width is None else f"w<{width}", threshold, queries)


def test_an_organisation_never_finds_another_organisations_vectors(
    filled: tuple[sa.Engine, np.ndarray, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same vectors stored for a second organisation: each finds only its own."""
    engine, vectors, plan = filled
    monkeypatch.setattr(pgvectors, "EXACT_MAX_ROWS", 0)
    with writer(engine).begin() as conn:
        conn.execute(sa.insert(organisations).values(id=2, name="other", created_at=0))
        rows = [
            {"id": SIZE + i + 1, "org_id": 2, "image_id": f"i{i}", "created_at": i, "updated_at": i}
            for i in range(SIZE)
        ]
        conn.execute(sa.insert(images), rows)
        PostgresEmbeddings(engine).store(
            conn, 2, [(SIZE + i + 1, "clip", "tiny", vectors[i]) for i in range(SIZE)]
        )
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE embeddings")
    for org_id, offset in ((1, 0), (2, SIZE)):
        with engine.connect() as conn:
            found = pgvectors.search(conn, (org_id, "clip", "tiny"), vectors[0], 0.3)
        wanted = expected(vectors, vectors[0], 0.3, np.ones(SIZE, dtype=bool))
        own = set((found.pks - offset).tolist())
        assert own == wanted if plan == "planner" else own <= wanted


def test_the_index_is_halfvec_hnsw_with_the_chosen_build(
    filled: tuple[sa.Engine, np.ndarray, str],
) -> None:
    engine, _, _ = filled
    with engine.connect() as conn:
        assert pgvectors.extension_version(conn) >= (0, 8)
        row = conn.exec_driver_sql(
            "SELECT am.amname, opc.opcname, c.reloptions FROM pg_class c "
            "JOIN pg_index i ON i.indexrelid = c.oid JOIN pg_am am ON am.oid = c.relam "
            "JOIN pg_opclass opc ON opc.oid = i.indclass[0] WHERE c.relname = %s",
            (pgvectors.hnsw_index_name(DIM),),
        ).one()
    assert row[0] == "hnsw" and row[1] == "halfvec_cosine_ops"
    assert set(row[2]) == {
        f"m={pgvectors.HNSW_M}",
        f"ef_construction={pgvectors.HNSW_EF_CONSTRUCTION}",
    }


def test_a_scan_reads_at_most_a_share_of_the_index_but_its_first_walks() -> None:
    """The scan's LIMIT: HNSW_MAX_SCAN_TUPLES at 10^6 and above, a 25th of a smaller index
    (a larger share makes the planner sort the slot instead of reading the graph: 160 ms
    against 20-25 ms at 10^5 in bench/pg_search.py), and never less than the first walks
    and one run after them."""
    run, fewest = 100, 1000
    assert pgvectors.scan_limit(1e8, run, fewest) == pgvectors.HNSW_MAX_SCAN_TUPLES == 40_000
    assert pgvectors.scan_limit(1e6, run, fewest) == 40_000
    assert pgvectors.scan_limit(1e5, run, fewest) == 4_000
    assert pgvectors.scan_limit(1e4, run, fewest) == fewest + run
    assert pgvectors.scan_limit(-1.0, run, fewest) == fewest + run  # never analysed


def test_a_vectors_text_reads_back_as_the_same_float32(postgres: PostgresCluster | None) -> None:
    """vector_text's nine digits: pgvector parses each component back to the same float32,
    whatever its magnitude (subnormals, the largest finite, signed zeros)."""
    if postgres is None:
        no_postgres()
    rng = np.random.default_rng(3)
    extremes = np.array(
        [0.0, -0.0, 1e-45, -1e-40, 1.1754944e-38, 3.4028235e38, -3.4028235e38], dtype=np.float32
    )
    vectors = [
        extremes,
        rng.standard_normal(512).astype(np.float32),
        (rng.standard_normal(512) * 10.0 ** rng.integers(-30, 30, 512)).astype(np.float32),
    ]
    with postgres.database() as url:
        engine = create_db_engine(url)
        with engine.connect() as conn:
            for vector in vectors:
                text = pgvectors.vector_text(vector)
                back = conn.exec_driver_sql("SELECT %s::vector::real[]", (text,)).scalar_one()
                assert np.array(back, dtype=np.float32).tobytes() == vector.tobytes()
        engine.dispose()


@pytest.mark.parametrize("iterative_since", [(0, 8), (99, 0)])
def test_one_round_trip_tells_the_index_state_and_sets_the_scan(
    filled: tuple[sa.Engine, np.ndarray, str],
    monkeypatch: pytest.MonkeyPatch,
    iterative_since: tuple[int, int],
) -> None:
    """prepare_scan: the index's rows and pgvector's version, and the transaction's scan
    settings; the iterative scan's only from the version that has it (99.0 stands for a
    pgvector older than the installed one), and none of them past the transaction."""
    engine, _, _ = filled
    monkeypatch.setattr(pgvectors, "ITERATIVE_SCAN", iterative_since)
    setting = "SELECT current_setting(%s, true)"  # NULL where pgvector is not yet loaded
    with engine.connect() as conn:
        with conn.begin():
            indexed, version = pgvectors.prepare_scan(conn, DIM)
            shown = {
                name: conn.exec_driver_sql(setting, (name,)).scalar_one()
                for name in ("hnsw.ef_search", "jit", "hnsw.iterative_scan", "hnsw.max_scan_tuples")
            }
        assert indexed == SIZE and version == pgvectors.extension_version(conn)
        assert shown["hnsw.ef_search"] == str(pgvectors.HNSW_EF_SEARCH) and shown["jit"] == "off"
        iterative = iterative_since == (0, 8)
        assert (shown["hnsw.iterative_scan"] == pgvectors.HNSW_ORDER) == iterative
        assert (shown["hnsw.max_scan_tuples"] == str(pgvectors.HNSW_MAX_SCAN_TUPLES)) == iterative
        assert conn.exec_driver_sql(setting, ("jit",)).scalar_one() == "on"
    with engine.connect() as conn:
        assert pgvectors.prepare_scan(conn, DIM + 1)[0] == -1.0  # no index of that dimension


def test_the_hnsw_search_reads_the_index(filled: tuple[sa.Engine, np.ndarray, str]) -> None:
    """The nearest-first statement matches the partial halfvec index (else every "HNSW"
    answer would be a sort of the whole slot); at 400 rows the planner sorts them."""
    engine, vectors, plan = filled
    target = pgvectors.query_vector(vectors[0])
    statement = pgvectors.nearest(DIM, target, pgvectors.distance_to(target), sa.true(), 50)
    with engine.connect() as conn:
        sql = statement.compile(conn, compile_kwargs={"literal_binds": True})
        explained = "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {sql}"))
    index_scan = f"Index Scan using {pgvectors.hnsw_index_name(DIM)}" in explained
    assert index_scan == (plan == "hnsw")


def literal_sql(conn: sa.Connection, statement: sa.Select, parameters: dict) -> str:
    """A statement of scan_statement with its parameters written in, for EXPLAIN."""
    compiled = statement.params(parameters).compile(conn, compile_kwargs={"literal_binds": True})
    return str(compiled)


def test_the_scan_probes_the_filter_by_pk(filled: tuple[sa.Engine, np.ndarray, str]) -> None:
    """The filter is evaluated on each tuple the scan returns, by the tuple's pk (an index
    probe of the images at scale), never by a hash of the whole scope (a scan of every
    image that passes it)."""
    engine, vectors, _ = filled
    scope = select_pks(parse_formula("w<50"), 1)
    limit = pgvectors.HNSW_MAX_SCAN_TUPLES
    statement, parameters = pgvectors.scan_statement(KEY, vectors[0], 0.5, scope, 40, 200, limit)
    with engine.connect() as conn:
        sql = literal_sql(conn, statement, parameters)
        explained = "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {sql}"))
    assert "id = marked.image_pk" in explained
    assert "hashed" not in explained


def test_only_rows_within_the_threshold_are_probed(
    filled: tuple[sa.Engine, np.ndarray, str],
) -> None:
    """A far tuple is no hit whatever the filter says: the statement probes the scope for
    the tuples within the threshold's distance only (EXPLAIN ANALYZE counts the probes),
    here over a whole scan of 200 tuples (no run of 201 ends it)."""
    engine, vectors, _ = filled
    scope = select_pks(parse_formula("w<50"), 1)
    statement, parameters = pgvectors.scan_statement(KEY, vectors[0], 0.5, scope, 201, 201, 200)
    target = pgvectors.query_vector(vectors[0])
    scan = pgvectors.nearest(DIM, target, pgvectors.distance_to(target), sa.true(), 200)
    with engine.begin() as conn:
        pgvectors.prepare_scan(conn, DIM)  # past one walk of the graph
        rows = conn.execute(scan).all()
        sql = literal_sql(conn, statement, parameters)
        plan = [r[0] for r in conn.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT TEXT) {sql}")]
    probes = [line for line in plan if "pk_images" in line or "on images" in line]
    loops = int(probes[0].rsplit("loops=", 1)[1].rstrip(")"))
    within = sum(row.distance <= parameters["hnsw_bound"] for row in rows)
    assert 0 < within < len(rows) == 200  # both kinds of tuple in the scan
    assert loops == within


@pytest.mark.parametrize("formula", ["w<3 || !w<97", "(w<30 && !w<20) || w=7"])
def test_a_compound_filter_matches_brute_force(
    filled: tuple[sa.Engine, np.ndarray, str], monkeypatch: pytest.MonkeyPatch, formula: str
) -> None:
    """Unions, intersections and negations of filters as the scan's per-row probe."""
    engine, vectors, plan = filled
    monkeypatch.setattr(pgvectors, "EXACT_MAX_ROWS", 0)
    widths = np.arange(SIZE) % 100
    masks = {
        "w<3 || !w<97": (widths < 3) | (widths >= 97),
        "(w<30 && !w<20) || w=7": ((widths < 30) & (widths >= 20)) | (widths == 7),
    }
    scope = select_pks(parse_formula(formula), 1)
    for query in vectors[:5]:
        with engine.connect() as conn:
            found = pgvectors.search(conn, KEY, query, 0.5, scope)
        wanted = expected(vectors, query, 0.5, masks[formula])
        assert set(found.pks.tolist()) <= wanted
        assert len(found.pks) >= 0.9 * len(wanted) - 1
        assert plan == "hnsw" or set(found.pks.tolist()) == wanted


def actual_rows(plan: list[str], node: str) -> int:
    """The rows the first plan node of this name returned (EXPLAIN ANALYZE)."""
    line = next(line for line in plan if node in line)
    return int(re.search(r"actual time=\S+ rows=(\d+)", line).group(1))


@pytest.mark.parametrize(
    ("threshold", "run", "fewest"),
    [
        (0.5, 1, 1),
        (0.5, 7, 7),
        (0.5, 7, 60),  # 16 hits, more than a run: the scan ends after them
        (0.5, 20, 100),  # fewer hits than a run: the scan ends after `fewest` tuples
        (0.5, 40, 120),
        (0.5, SIZE + 1, SIZE + 1),
        (0.999, 7, 60),  # no hit: the scan ends after `fewest` tuples
        (0.999, 40, 120),
    ],
)
def test_the_server_ends_the_scan_after_the_first_run_beyond_the_radius(
    filled: tuple[sa.Engine, np.ndarray, str], threshold: float, run: int, fewest: int
) -> None:
    """scan_statement against the stop rule applied in Python to the whole scan, in the
    scan's own order: the same hits, the same ending tuple, and the scan stopped there, not
    at its LIMIT (the window run condition; a scan that never ends a run returns it all).
    The run cannot end within the first `fewest` tuples, unless `run` tuples within the
    radius came before it."""
    engine, vectors, _ = filled
    scope = select_pks(parse_formula("w<50"), 1)
    widths = np.arange(SIZE) % 100
    query = vectors[0] if threshold == 0.5 else np.full(DIM, DIM**-0.5, dtype=np.float32)
    statement, parameters = pgvectors.scan_statement(
        KEY, query, threshold, scope, run, fewest, SIZE
    )
    radius, bound = parameters["hnsw_radius"], parameters["hnsw_bound"]
    target = pgvectors.query_vector(query)
    scan = pgvectors.nearest(DIM, target, pgvectors.distance_to(target), sa.true(), SIZE)
    with engine.begin() as conn:
        pgvectors.prepare_scan(conn, DIM)
        whole = conn.execute(scan).all()
        answer = [tuple(row) for row in conn.execute(statement, parameters)]
        sql = literal_sql(conn, statement, parameters)
        plan = [r[0] for r in conn.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT TEXT) {sql}")]
    end, beyond, within = None, 0, 0
    for position, row in enumerate(whole):
        beyond = beyond + 1 if row.distance > radius else 0
        within += beyond == 0
        if beyond >= run and (within >= run or position + 1 >= fewest):
            end = position
            break
    assert (end is None) == (run > SIZE)
    assert (within > 0) == (threshold == 0.5)
    kept = whole if end is None else whole[: end + 1]
    wanted = [
        (row.image_pk, row.distance, position == end)
        for position, row in enumerate(kept)
        if position == end or (widths[row.image_pk - 1] < 50 and row.distance <= bound)
    ]
    assert answer == wanted
    scanned = actual_rows(plan, "Limit")
    if end is None:
        assert scanned == len(whole)
    else:  # each WindowAgg reads at most one tuple ahead of the one it returns
        windows = sum("WindowAgg" in line for line in plan)
        assert end + 1 <= scanned <= end + 1 + windows < len(whole)
    sorts = [line for line in plan if re.match(r"(->\s+)?Sort\s+\(", line.strip())]
    assert len(sorts) == (1 if filled[2] == "planner" else 0)  # only the walk's, if any


def test_the_schema_upgrade_refuses_postgresql_older_than_15() -> None:
    """The scan's end in the server needs window run conditions (PostgreSQL 15); the
    upgrade that `serve` runs at start says so rather than search slowly on 14."""
    with pytest.raises(RuntimeError, match="PostgreSQL 14 is too old: pixsearch needs 15"):
        require_postgres(140013)
    require_postgres(150018)
    require_postgres(170002)


def test_migration_0009_rebuilds_a_full_precision_index_as_halfvec(
    postgres: PostgresCluster | None,
) -> None:
    """A database at 0008 with migration 0002's vector index: 0009 rebuilds it over
    halfvec, keeping the rows; search finds them through it."""
    if postgres is None:
        no_postgres()
    with postgres.database() as url:
        engine = create_db_engine(url)
        with engine.begin() as conn:  # back to 0008's form: the template is at head
            conn.exec_driver_sql("DROP INDEX IF EXISTS ix_embeddings_hnsw_4")
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0008_pgfacets'")
            conn.execute(sa.insert(organisations).values(id=1, name="acme", created_at=0))
            conn.execute(
                sa.insert(images),
                [
                    {"id": i, "org_id": 1, "image_id": f"i{i}", "created_at": 0, "updated_at": 0}
                    for i in (1, 2)
                ],
            )
            for pk, vector in ((1, "[1,0,0,0]"), (2, "[0,1,0,0]")):
                conn.exec_driver_sql(
                    "INSERT INTO embeddings (image_pk, kind, org_id, model, vector, embedding) "
                    "VALUES (%s, 'clip', 1, 'tiny', %s, %s::vector)",
                    (pk, np.array(json.loads(vector), dtype=np.float32).tobytes(), vector),
                )
            conn.exec_driver_sql(
                "CREATE INDEX ix_embeddings_hnsw_4 ON embeddings USING hnsw "
                "((embedding::vector(4)) vector_cosine_ops) WHERE vector_dims(embedding) = 4"
            )
        upgrade(engine, "0009_pgvector")  # later revisions' objects are there already
        with engine.connect() as conn:
            definition = conn.exec_driver_sql(
                "SELECT pg_get_indexdef('ix_embeddings_hnsw_4'::regclass)"
            ).scalar_one()
            found = pgvectors.search(conn, KEY, np.array([1, 0, 0, 0], dtype=np.float32), 0.9)
        engine.dispose()
    assert "halfvec_cosine_ops" in definition and "m='16'" in definition
    assert found.pks.tolist() == [1]


def test_migration_0011_rebuilds_the_index_with_more_candidates(
    postgres: PostgresCluster | None,
) -> None:
    """A database before 0011 with 0009's index (ef_construction 64): 0011 rebuilds it
    with index.pgvector's build, and downgrading before it brings 64 back."""
    if postgres is None:
        no_postgres()
    with postgres.database() as url:
        engine = create_db_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.insert(organisations).values(id=1, name="acme", created_at=0))
            conn.execute(
                sa.insert(images),
                [{"id": 1, "org_id": 1, "image_id": "i1", "created_at": 0, "updated_at": 0}],
            )
            PostgresEmbeddings(engine).store(
                conn, 1, [(1, "clip", "tiny", np.array([1, 0, 0, 0], dtype=np.float32))]
            )
            conn.exec_driver_sql("DROP INDEX ix_embeddings_hnsw_4")
            conn.exec_driver_sql(  # 0009's form
                "CREATE INDEX ix_embeddings_hnsw_4 ON embeddings USING hnsw "
                "((embedding::halfvec(4)) halfvec_cosine_ops) "
                "WITH (m = 16, ef_construction = 64) WHERE vector_dims(embedding) = 4"
            )
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0010_pgfacets2'")
        upgrade(engine, "0011_pgvector2")
        upgraded = index_definition(engine)
        command.downgrade(alembic_config(engine), "0010_pgfacets2")
        downgraded = index_definition(engine)
        with engine.connect() as conn:
            found = pgvectors.search(conn, KEY, np.array([1, 0, 0, 0], dtype=np.float32), 0.9)
        engine.dispose()
    assert f"ef_construction='{pgvectors.HNSW_EF_CONSTRUCTION}'" in upgraded
    assert "halfvec_cosine_ops" in upgraded and "vector_dims(embedding) = 4" in upgraded
    assert "ef_construction='64'" in downgraded
    assert found.pks.tolist() == [1]


def index_definition(engine: sa.Engine) -> str:
    with engine.connect() as conn:
        return str(
            conn.exec_driver_sql(
                "SELECT pg_get_indexdef('ix_embeddings_hnsw_4'::regclass)"
            ).scalar_one()
        )
