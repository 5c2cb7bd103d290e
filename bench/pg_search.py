"""pgvector search: HNSW at several ef_search against exact, with and without filters.

A throwaway PostgreSQL 16 + pgvector 0.6.2 (pgserver, as the tests start it, or
PIXSEARCH_TEST_POSTGRES_URL), migrated; N images with a `width` drawn from 0..99 (so
`width < 1|10|50` passes 1 %, 10 %, 50 %), and N clustered 512-d unit vectors of one
model, written with COPY; then the HNSW index of `index.pgvector.ensure_hnsw_index` is built
(build time reported). Per query vector (a stored vector plus noise), top 10 by cosine:

    hnsw ef=40|100|200     ORDER BY the indexed expression LIMIT 10, hnsw.ef_search set
    exact                  ORDER BY the unindexed distance LIMIT 10 (sequential scan)
    + filter               the same with `image_pk IN (SELECT id FROM images WHERE width < s)`
    hnsw+fallback          HNSW (ef 100), then exact when it returns fewer than 10

Recall@10 is against NumPy brute force over the same rows and filter. The last table is the
selectivity at which exact becomes faster than HNSW + fallback (EXACT_BELOW_SELECTIVITY in
src/pixsearch/index/pgvector.py).

    .venv/bin/python -m bench.pg_search [--size 100000] [--queries 40] [--data DIR]

With --data the cluster lives in DIR and keeps its database between runs: a run that finds
--size rows there skips the load and the index build (delete DIR after changing the schema).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import sqlalchemy as sa

from bench.stats import percentiles
from pixsearch.db.engine import create_db_engine
from pixsearch.db.migrate import upgrade
from pixsearch.index.pgvector import ensure_hnsw_index, vector_text
from tests.postgres import start_cluster

DIM = 512
MODEL = "bench-clip"
CLUSTER = 50
NOISE = 0.029  # per dimension: two members of a cluster have cosine about 0.7 (bench/search)
K = 10
EF_VALUES = (40, 100, 200)
KEPT_DATABASE = "pixsearch_bench"
SELECTIVITIES = (0.01, 0.02, 0.05, 0.10, 0.20, 0.50)


def make_vectors(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Clustered unit vectors and each image's width (0..99, independent of the clusters)."""
    centres = rng.standard_normal((max(1, size // CLUSTER), DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    vectors = centres[rng.integers(0, len(centres), size)]
    vectors = vectors + NOISE * rng.standard_normal((size, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors.astype(np.float32), rng.integers(0, 100, size)


def populate(engine: sa.Engine, vectors: np.ndarray, widths: np.ndarray) -> None:
    """One organisation; images and embeddings through COPY (pk = row + 1)."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("INSERT INTO organisations (id, name, created_at) VALUES (1, 'bench', 0)")
        with cursor.copy(
            "COPY images (id, org_id, image_id, width, created_at, updated_at) FROM STDIN"
        ) as copy:
            for row, width in enumerate(widths.tolist()):
                copy.write_row((row + 1, 1, f"img{row}", width, row, row))
        with cursor.copy(
            "COPY embeddings (image_pk, kind, org_id, model, vector, embedding) FROM STDIN"
        ) as copy:
            for row, vector in enumerate(vectors):
                copy.write_row((row + 1, "clip", 1, MODEL, vector.tobytes(), vector_text(vector)))
        raw.commit()
    finally:
        raw.close()


def build_index(engine: sa.Engine, size: int) -> float:
    started = time.perf_counter()
    with engine.begin() as conn:
        # The graph must fit in maintenance_work_mem, or pgvector builds far more slowly:
        # about 2 KB of vector and 1 KB of graph per row, with room to spare.
        memory_gb = max(2, -(-size * 5 // 1_000_000))
        conn.exec_driver_sql(f"SET maintenance_work_mem = '{memory_gb}GB'")
        conn.exec_driver_sql("SET max_parallel_maintenance_workers = 1")
        ensure_hnsw_index(conn, DIM)
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE images")
        conn.exec_driver_sql("ANALYZE embeddings")
    return time.perf_counter() - started


def top_query(indexed: bool, filtered: bool, limit: int = K) -> str:
    """Top `limit` by cosine distance; `indexed` uses the HNSW index's expression."""
    column = f"embedding::vector({DIM})" if indexed else "embedding"
    cast = f"::vector({DIM})" if indexed else "::vector"
    where = f"vector_dims(embedding) = {DIM} AND org_id = 1 AND kind = 'clip' AND model = '{MODEL}'"
    if filtered:
        where += " AND image_pk IN (SELECT id FROM images WHERE org_id = 1 AND width < %(w)s)"
    return (
        f"SELECT image_pk FROM embeddings WHERE {where} "
        f"ORDER BY {column} <=> %(q)s{cast} LIMIT {limit}"
    )


def brute_force(vectors: np.ndarray, query: np.ndarray, mask: np.ndarray | None) -> set[int]:
    scores = vectors @ query
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    return set((np.argsort(-scores)[:K] + 1).tolist())


def measure(
    queries: list[np.ndarray], truth: list[set[int]], run: Callable[[np.ndarray], list[int]]
) -> dict[str, Any]:
    times, recalls = [], []
    for query, expected in zip(queries, truth, strict=True):
        started = time.perf_counter()
        found = run(query)
        times.append((time.perf_counter() - started) * 1000)
        recalls.append(len(expected & set(found)) / K)
    return {
        **percentiles(times, (50, 95)),
        "mean": round(float(np.mean(times)), 2),
        "recall@10": round(float(np.mean(recalls)), 3),
    }


def runner(conn: sa.Connection, sql: str, ef: int | None, width: int | None) -> Callable[..., Any]:
    def run(query: np.ndarray) -> list[int]:
        if ef is not None:
            conn.exec_driver_sql(f"SET hnsw.ef_search = {ef}")
        params = {"q": vector_text(query), "w": width}
        return [row[0] for row in conn.exec_driver_sql(sql, params)]

    return run


def with_fallback(conn: sa.Connection, width: int | None) -> Callable[[np.ndarray], list[int]]:
    """HNSW at ef 100; exact when the filter left fewer than K (as pgvector.search does)."""
    hnsw = runner(conn, top_query(True, width is not None), 100, width)
    exact = runner(conn, top_query(False, width is not None), None, width)

    def run(query: np.ndarray) -> list[int]:
        found = hnsw(query)
        return found if len(found) >= K else exact(query)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000, help="Number of vectors.")
    parser.add_argument("--queries", type=int, default=40, help="Timed queries per figure.")
    parser.add_argument("--data", help="Cluster directory kept between runs (reuses its rows).")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    vectors, widths = make_vectors(args.size, rng)
    picks = rng.integers(0, args.size, args.queries)
    queries = [
        v / np.linalg.norm(v)
        for v in vectors[picks] + 0.02 * rng.standard_normal((args.queries, DIM)).astype(np.float32)
    ]
    with open_database(args.data) as url:
        engine = create_db_engine(url)
        if holds_rows(engine, args.size):
            print(f"{args.size} vectors of {DIM} d already in {args.data}: load skipped")
        else:
            started = time.perf_counter()
            populate(engine, vectors, widths)
            print(
                f"{args.size} vectors of {DIM} d written in {time.perf_counter() - started:.1f} s"
            )
            print(f"HNSW build (m 16, ef_construction 64): {build_index(engine, args.size):.1f} s")
        report(engine, vectors, widths, queries)
        engine.dispose()


@contextmanager
def open_database(data: str | None) -> Iterator[str]:
    """A throwaway database, or with `data` the kept one of a cluster in that directory."""
    if data is None:
        with start_cluster() as cluster:
            assert cluster is not None, "no PostgreSQL: install pgserver or set the test URL"
            with cluster.database() as url:
                yield url
        return
    import pgserver

    server = pgserver.get_server(data, cleanup_mode="stop")
    try:
        admin = sa.create_engine(server.get_uri(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            exists = conn.exec_driver_sql(
                "SELECT 1 FROM pg_database WHERE datname = %s", (KEPT_DATABASE,)
            ).scalar()
            if not exists:
                conn.exec_driver_sql(f"CREATE DATABASE {KEPT_DATABASE}")
        admin.dispose()
        url = sa.make_url(server.get_uri()).set(database=KEPT_DATABASE)
        engine = create_db_engine(url.render_as_string(hide_password=False))
        upgrade(engine)
        engine.dispose()
        yield url.render_as_string(hide_password=False)
    finally:
        server.cleanup()


def holds_rows(engine: sa.Engine, size: int) -> bool:
    """Whether the database already holds `size` embeddings; other rows there are deleted."""
    with engine.begin() as conn:
        count = conn.exec_driver_sql("SELECT count(*) FROM embeddings").scalar_one()
        if count == size:
            return True
        conn.exec_driver_sql("TRUNCATE organisations, images, embeddings CASCADE")
        return False


def report(engine: sa.Engine, vectors: np.ndarray, widths: np.ndarray, queries: list[Any]) -> None:
    print(f"{'search':<28} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8} {'recall@10':>10}")
    crossover: list[tuple[float, float, float]] = []
    with engine.connect() as conn:
        for selectivity in (None, *SELECTIVITIES):
            width = None if selectivity is None else round(selectivity * 100)
            mask = None if width is None else widths < width
            truth = [brute_force(vectors, q, mask) for q in queries]
            label = "no filter" if width is None else f"filter {width} %"
            figures = {}
            for ef in EF_VALUES:
                sql = top_query(True, width is not None)
                figures[f"hnsw ef={ef}"] = measure(queries, truth, runner(conn, sql, ef, width))
            figures["hnsw+fallback"] = measure(queries, truth, with_fallback(conn, width))
            exact_sql = top_query(False, width is not None)
            figures["exact"] = measure(queries, truth, runner(conn, exact_sql, None, width))
            for name, f in figures.items():
                print(
                    f"{label + ', ' + name:<28} {f['p50']:>8} {f['p95']:>8} {f['mean']:>8} "
                    f"{f['recall@10']:>10}"
                )
            if selectivity is not None:
                crossover.append(
                    (selectivity, figures["hnsw+fallback"]["mean"], figures["exact"]["mean"])
                )
    faster = [s for s, fallback, exact in crossover if exact < fallback]
    print(
        "selectivity: hnsw+fallback mean ms / exact mean ms: "
        + ", ".join(f"{s:.0%}: {a} / {b}" for s, a, b in crossover)
    )
    print(
        f"exact is faster up to a selectivity of {max(faster):.0%}"
        if faster
        else "exact is never faster here"
    )


if __name__ == "__main__":
    main()
