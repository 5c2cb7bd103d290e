"""pgvector search through the service's own path, against NumPy brute force and exact SQL.

A throwaway cluster of the machine's PostgreSQL with pgvector (tests/postgres.py; `make
postgres` builds 0.8.6), migrated; N images with a `width` drawn from 0..99 (so `width < 1|10|50`
passes 1 %, 10 %, 50 %), and N clustered 512-d unit vectors of one model (clusters of
--cluster members, cosine about 0.7 between two members), written with binary COPY; then
the HNSW index of `index.pgvector.ensure_hnsw_index` is built (time and size reported).

Each query is a stored vector plus noise (cosine about 0.64 with the other members of its
cluster, below 0.2 with everything else); it is searched with `index.pgvector.search`, the
function `i~`/`t~` search uses, at the threshold --threshold (0.5: the members of the query's
cluster that pass the filter are the hits), and its filter is the service's: a scope
`SELECT id FROM images WHERE org_id = 1 AND width < s`. Per selectivity (none, 50 %, 10 %,
1 %):

    search      index.pgvector.search: HNSW with iterative scans (pgvector 0.8), exact
                when the HNSW answer cannot be known complete
    exact       index.pgvector.search_exact, the same filter: the floor (sequential scan)

--shape graded makes a second data shape, closer to real embeddings than tight equidistant
clusters (the hardest case for a graph): each cluster is ten topics at graded distances,
so a query's hits are its topic and part of its cluster, from a few hundred to about 900
(make_vectors). Report both shapes.

The server is sized as docs/deployment.md says: shared_buffers (--shared-buffers, 5GB)
holds the HNSW index and the rows a search reads (the embeddings' heap, 1,366 + 2,731 B a
vector at 512-d: 4 GB at 10^6). Before the queries those are read into shared buffers
(pg_prewarm: the index, then the embeddings' rows, then the images' rows and primary key
that the filters probe, each while the rest of the buffers holds it), as in a server that
has answered searches for a while; --cold leaves them as the build or the last run did.
With --shared-buffers 2GB only the index fits, and each search reads about 1,400 rows'
pages from the OS (docs/performance.md).

Huge pages: PostgreSQL maps its shared buffers in 2 MB pages when the OS has them reserved
(huge_pages=try, the default), which spares a search most of its TLB misses (p50
0.84-0.90x at 10^6, docs/performance.md). The bench says how many the server needs and how
many the OS has; reserve them before the run (as root: `sysctl vm.nr_hugepages=2800` for
5GB), or compare with --huge-pages off.

The process freezes what it made before the queries out of the garbage collector's view, as
`pixsearch serve` does after start-up (cli.freeze_start_up): otherwise a full collection of
it (about 60 ms) falls inside a search now and then and sets the p95 of 30 queries.

recall@10 is the share of NumPy's top 10 (brute force over the same rows, filter and
threshold) in the 10 best of the answer; "complete" the share of queries whose answer is
every hit NumPy finds. Ratios are against exact in the same run.

    .venv/bin/python -m bench.pg_search [--size 100000] [--queries 40] [--data DIR]

With --data the cluster lives in DIR and keeps its database between runs: a run that finds
--size rows there skips the load, and one that finds the index skips the build (delete DIR
after changing the schema; --rebuild drops and rebuilds the index).
"""

from __future__ import annotations

import argparse
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from bench.stats import percentiles
from pixsearch.cli import freeze_start_up
from pixsearch.db.engine import create_db_engine
from pixsearch.index import pgvector
from pixsearch.index.vectors import Matches
from tests.postgres import bench_database

DIM = 512
MODEL = "bench-clip"
KEY = (1, "clip", MODEL)
NOISE = 0.029  # per dimension: two members of a cluster have cosine about 0.7
# "graded": a topic's members about 0.8 apart (1 / (1 + 512 noise^2)), topics of a cluster
# 0.5-0.76 (so their members 0.4-0.6, around the threshold)
MEMBER_NOISE = 0.0221
TOPIC_NOISE = (0.025, 0.045)
QUERY_NOISE = 0.02
K = 10
KEPT_DATABASE = "pixsearch_bench"
SELECTIVITIES = (None, 0.50, 0.10, 0.01)
# The kept cluster's server, besides its shared_buffers (--shared-buffers): a fast load
# and build, within the 8 GiB this benchmark may use on the 24 GiB, 2-core machine.
BENCH_SETTINGS = (
    "effective_cache_size=6GB",
    "max_parallel_maintenance_workers=1",
    "max_parallel_workers_per_gather=1",
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "max_wal_size=8GB",
    "checkpoint_timeout=30min",
)
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)


def make_vectors(
    size: int, cluster: int, shape: str = "clusters", seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Clustered unit vectors and each image's width (0..99, independent of the clusters),
    made in chunks so that 1M vectors need 2 GB, not three times that.

    "clusters": members of a cluster around its centre (cosine about 0.7 between two),
    nothing between clusters. "graded": each cluster of ten topics of `cluster` / 10
    members around their topic (cosine about 0.8 between two), the topics around the
    centre at a distance drawn for each (cosine 0.4-0.6 between members of two topics), as
    real embeddings have near duplicates, the same subject, the same kind of picture.
    """
    rng = np.random.default_rng(seed)
    centres = unit(rng.standard_normal((max(1, size // cluster), DIM), dtype=np.float32))
    if shape == "graded":
        topics = np.repeat(centres, 10, axis=0)
        spread = rng.uniform(TOPIC_NOISE[0], TOPIC_NOISE[1], (len(topics), 1))
        centres = unit(topics + spread * rng.standard_normal(topics.shape, dtype=np.float32))
    noise = NOISE if shape == "clusters" else MEMBER_NOISE
    members = rng.integers(0, len(centres), size)
    vectors = np.empty((size, DIM), dtype=np.float32)
    for start in range(0, size, 100_000):
        chunk = slice(start, min(size, start + 100_000))
        part = centres[members[chunk]]
        vectors[chunk] = unit(part + noise * rng.standard_normal(part.shape, dtype=np.float32))
    return vectors, rng.integers(0, 100, size)


def unit(vectors: np.ndarray) -> np.ndarray:
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def cached_vectors(
    data: str | None, size: int, cluster: int, shape: str = "clusters"
) -> tuple[np.ndarray, np.ndarray]:
    """make_vectors, kept as .npy files in the --data directory (memory-mapped back)."""
    if data is None:
        return make_vectors(size, cluster, shape)
    graded = "" if shape == "clusters" else f"-{shape}"
    stem = Path(data).parent / f"vectors-{size}-{cluster}{graded}"
    vectors_file, widths_file = stem.with_suffix(".npy"), stem.with_suffix(".widths.npy")
    if not widths_file.exists():
        vectors, widths = make_vectors(size, cluster, shape)
        np.save(vectors_file, vectors)
        np.save(widths_file, widths)
    return np.load(vectors_file, mmap_mode="r"), np.load(widths_file)


def populate(engine: sa.Engine, vectors: np.ndarray, widths: np.ndarray) -> None:
    """One organisation; images (text COPY) and embeddings (binary COPY: pgvector's own
    binary form, int16 dimensions, int16 unused, big-endian float4s), pk = row + 1."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("INSERT INTO organisations (id, name, created_at) VALUES (1, 'bench', 0)")
        with cursor.copy(
            "COPY images (id, org_id, image_id, width, created_at, updated_at) FROM STDIN"
        ) as copy:
            for row, width in enumerate(widths.tolist()):
                copy.write_row((row + 1, 1, f"img{row}", width, row, row))
        columns = "image_pk, kind, org_id, model, vector, embedding"
        with cursor.copy(f"COPY embeddings ({columns}) FROM STDIN (FORMAT binary)") as copy:
            copy.write(COPY_HEADER)
            kind, model = b"clip", MODEL.encode()
            fixed = struct.pack("!i", len(kind)) + kind + struct.pack("!ii", 4, 1)
            fixed += struct.pack("!i", len(model)) + model
            blob_length = struct.pack("!i", DIM * 4)
            vector_head = struct.pack("!ihh", 4 + DIM * 4, DIM, 0)
            for start in range(0, len(vectors), 10_000):
                chunk = np.asarray(vectors[start : start + 10_000])
                big = chunk.astype(">f4")
                parts = []
                for offset, (vector, bigendian) in enumerate(zip(chunk, big, strict=True)):
                    parts.append(struct.pack("!hii", 6, 4, start + offset + 1))
                    parts += [fixed, blob_length, vector.tobytes(), vector_head]
                    parts.append(bigendian.tobytes())
                copy.write(b"".join(parts))
            copy.write(struct.pack("!h", -1))
        raw.commit()
    finally:
        raw.close()


def build_index(engine: sa.Engine, size: int) -> float:
    """ensure_hnsw_index over the loaded rows: the graph must fit in maintenance_work_mem, or
    pgvector builds far more slowly (about 1 KB of halfvec and 0.3 KB of graph a row)."""
    started = time.perf_counter()
    with engine.begin() as conn:
        memory_gb = max(1, -(-size * 2 // 1_000_000))
        conn.exec_driver_sql(f"SET maintenance_work_mem = '{memory_gb}GB'")
        pgvector.ensure_hnsw_index(conn, DIM)
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE images")
        conn.exec_driver_sql("ANALYZE embeddings")
    return time.perf_counter() - started


def vacuum_once(engine: sa.Engine) -> None:
    """VACUUM the loaded tables if they never were, as autovacuum long since has in a
    server that has been running: else autovacuum starts on the fresh 6.6 GB table about
    30 s into a run, takes a core from the searches, and dies with the kept cluster at
    the run's end, to start again in the next one."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("images", "embeddings"):
            done = conn.exec_driver_sql(
                "SELECT coalesce(last_vacuum, last_autovacuum) IS NOT NULL "
                "FROM pg_stat_user_tables WHERE relname = %s",
                (table,),
            ).scalar_one()
            if not done:
                started = time.perf_counter()
                conn.exec_driver_sql(f"VACUUM (ANALYZE) {table}")
                print(f"{table} vacuumed in {time.perf_counter() - started:.1f} s", flush=True)


def index_exists(engine: sa.Engine) -> bool:
    with engine.connect() as conn:
        name = pgvector.hnsw_index_name(DIM)
        return conn.exec_driver_sql("SELECT to_regclass(%s)", (name,)).scalar() is not None


def print_sizes(engine: sa.Engine, size: int) -> None:
    with engine.connect() as conn:
        index = conn.exec_driver_sql(
            "SELECT pg_relation_size(%s)", (pgvector.hnsw_index_name(DIM),)
        ).scalar_one()
        table = conn.exec_driver_sql("SELECT pg_total_relation_size('embeddings')").scalar_one()
        version = pgvector.extension_version(conn)
        build = conn.exec_driver_sql(
            "SELECT array_to_string(reloptions, ', ') FROM pg_class WHERE relname = %s",
            (pgvector.hnsw_index_name(DIM),),
        ).scalar_one()
    print(
        f"pgvector {'.'.join(map(str, version))}; HNSW index ({build}) {index / 2**20:.0f} MiB "
        f"({index / size:.0f} B a vector); embeddings table with its indexes "
        f"{table / 2**20:.0f} MiB ({table / size:.0f} B a row)"
    )


def print_huge_pages(engine: sa.Engine, setting: str) -> None:
    """The server's huge pages: how many it needs for its shared memory, and how many the
    OS holds (with huge_pages=try a server that found too few runs without them)."""
    with engine.connect() as conn:
        needed = conn.exec_driver_sql("SHOW shared_memory_size_in_huge_pages").scalar_one()
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    total, free, promised = (
        int(meminfo[f"HugePages_{name}"]) for name in ("Total", "Free", "Rsvd")
    )
    print(
        f"huge_pages={setting}: the server needs {needed} huge pages; the OS has {total}, "
        f"{total - free + promised} of them taken"
    )


def prewarm(engine: sa.Engine) -> None:
    """Read what a search reads into shared buffers (pg_prewarm, PostgreSQL's contrib), the
    state of a server that has answered searches a while: the HNSW index, then the
    embeddings' rows (each returned tuple's vector and pk), then the images' rows and
    primary key (the filters' probes), each only while it fits beside the ones before it
    (a relation that does not fit would evict them). A page that is not there costs a
    search a read from the OS: thousands of them for a cold index."""
    relations = (pgvector.hnsw_index_name(DIM), "embeddings", "images", "pk_images")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        room = conn.exec_driver_sql(  # in blocks, less a tenth for the queries' own pages
            "SELECT setting::bigint * 9 / 10 FROM pg_settings WHERE name = 'shared_buffers'"
        ).scalar_one()
        for name in relations:
            size = conn.exec_driver_sql(
                "SELECT pg_relation_size(%s) / current_setting('block_size')::int", (name,)
            ).scalar_one()
            if size > room:
                print(f"{name} ({size} blocks) left out: shared buffers hold {room} more")
                break
            room -= conn.exec_driver_sql("SELECT pg_prewarm(%s)", (name,)).scalar_one()
            print(f"{name} read into shared buffers: {size} blocks")


def brute_force(
    vectors: np.ndarray, query: np.ndarray, mask: np.ndarray | None, threshold: float
) -> tuple[list[int], int]:
    """NumPy's top K pks among the hits, and the number of hits."""
    scores = np.asarray(vectors @ query)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    hits = int((scores >= threshold).sum())
    top = np.argsort(-scores)[: min(K, hits)]
    return (top + 1).tolist(), hits


def best(matches: Matches) -> list[int]:
    return matches.pks[np.argsort(-matches.scores)[:K]].tolist()


def measure(
    conn: sa.Connection,
    queries: list[np.ndarray],
    truth: list[tuple[list[int], int]],
    run: Callable[[np.ndarray], Matches],
) -> dict[str, Any]:
    times, recalls, complete = [], [], []
    for query, (expected, hits) in zip(queries, truth, strict=True):
        started = time.perf_counter()
        with conn.begin():  # the service searches inside its request's transaction
            found = run(query)
        times.append((time.perf_counter() - started) * 1000)
        if expected:
            recalls.append(len(set(expected) & set(best(found))) / len(expected))
        complete.append(len(found.pks) == hits)
    return {
        **percentiles(times, (50, 95)),
        "mean": round(float(np.mean(times)), 2),
        "recall@10": round(float(np.mean(recalls)), 3) if recalls else float("nan"),
        "complete": round(float(np.mean(complete)), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000, help="Number of vectors.")
    parser.add_argument("--queries", type=int, default=40, help="Timed queries per figure.")
    parser.add_argument("--cluster", type=int, default=1000, help="Vectors per cluster.")
    parser.add_argument(
        "--shape", choices=("clusters", "graded"), default="clusters", help="make_vectors."
    )
    parser.add_argument("--threshold", type=float, default=0.5, help="Cosine of a hit.")
    parser.add_argument("--data", help="Cluster directory kept between runs (reuses its rows).")
    parser.add_argument("--rebuild", action="store_true", help="Drop and rebuild the index.")
    parser.add_argument("--load-only", action="store_true", help="Load and build, no queries.")
    parser.add_argument("--exact-queries", type=int, help="Queries of the exact floor (all).")
    parser.add_argument("--cold", action="store_true", help="Do not prewarm (see prewarm).")
    parser.add_argument(
        "--shared-buffers",
        default="5GB",
        help="The server's shared_buffers (with --data: the kept cluster restarts with it).",
    )
    parser.add_argument(
        "--huge-pages",
        choices=("try", "on", "off"),
        default="try",
        help="The server's huge_pages (on: refuse to start without them).",
    )
    # Knobs of index.pgvector's search, to choose its settings by measurement.
    parser.add_argument("--order", help="hnsw.iterative_scan (strict_order, relaxed_order).")
    parser.add_argument("--ef-search", type=int, help="hnsw.ef_search.")
    parser.add_argument("--first-walks", type=int, help="Walks a scan takes before it may end.")
    parser.add_argument("--m", type=int, help="HNSW build: links a node (with --rebuild).")
    parser.add_argument("--ef-construction", type=int, help="HNSW build: candidates a link.")
    args = parser.parse_args()
    for name, value in (
        ("HNSW_ORDER", args.order),
        ("HNSW_EF_SEARCH", args.ef_search),
        ("HNSW_FIRST_WALKS", args.first_walks),
        ("HNSW_M", args.m),
        ("HNSW_EF_CONSTRUCTION", args.ef_construction),
    ):
        if value is not None:
            setattr(pgvector, name, value)
    vectors, widths = cached_vectors(args.data, args.size, args.cluster, args.shape)
    rng = np.random.default_rng(1)
    picks = rng.integers(0, args.size, args.queries)
    noise = QUERY_NOISE * rng.standard_normal((args.queries, DIM), dtype=np.float32)
    queries = [v / np.linalg.norm(v) for v in np.asarray(vectors[picks]) + noise]
    settings = (
        f"shared_buffers={args.shared_buffers}",
        f"huge_pages={args.huge_pages}",
        *BENCH_SETTINGS,
    )
    with bench_database(args.data, settings, KEPT_DATABASE) as url:
        engine = create_db_engine(url)
        if holds_rows(engine, args.size):
            print(f"{args.size} vectors of {DIM} d already in {args.data}: load skipped")
        else:
            started = time.perf_counter()
            populate(engine, vectors, widths)
            elapsed = time.perf_counter() - started
            print(f"{args.size} vectors of {DIM} d written in {elapsed:.1f} s", flush=True)
        if args.rebuild and index_exists(engine):
            with engine.begin() as conn:
                conn.exec_driver_sql(f"DROP INDEX {pgvector.hnsw_index_name(DIM)}")
        if not index_exists(engine):
            build = f"m {pgvector.HNSW_M}, ef_construction {pgvector.HNSW_EF_CONSTRUCTION}"
            print(f"HNSW build (halfvec, {build}):", end=" ", flush=True)
            print(f"{build_index(engine, args.size):.1f} s", flush=True)
        vacuum_once(engine)
        print_sizes(engine, args.size)
        if not args.load_only:
            print_huge_pages(engine, args.huge_pages)
            if not args.cold:
                prewarm(engine)
            # as `pixsearch serve` does once started: without it, a full collection of the
            # bench's start-up objects took 60 ms in one search of 30 (p95 55 ms, not 33)
            freeze_start_up()
            report(engine, vectors, widths, queries, args.threshold, args.exact_queries)
        engine.dispose()


def holds_rows(engine: sa.Engine, size: int) -> bool:
    """Whether the database already holds `size` embeddings; other rows there are deleted."""
    with engine.begin() as conn:
        count = conn.exec_driver_sql("SELECT count(*) FROM embeddings").scalar_one()
        if count == size:
            return True
        conn.exec_driver_sql("TRUNCATE organisations, images, embeddings CASCADE")
        return False


def scope_of(width: int | None) -> sa.Select[Any] | None:
    """The service's scope for `width < w`: the pks of the images that pass it."""
    if width is None:
        return None
    images = sa.table("images", sa.column("id"), sa.column("org_id"), sa.column("width"))
    return sa.select(images.c.id).where(images.c.org_id == 1, images.c.width < width)


def report(
    engine: sa.Engine,
    vectors: np.ndarray,
    widths: np.ndarray,
    queries: list[Any],
    threshold: float,
    exact_queries: int | None,
) -> None:
    print(f"threshold {threshold}; {pgvector.search_settings()}")
    print(
        f"{'search':<24} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8} {'recall@10':>10} "
        f"{'complete':>9} {'hits':>6} {'p50/exact':>10}"
    )
    with engine.connect() as conn:
        for selectivity in SELECTIVITIES:
            width = None if selectivity is None else round(selectivity * 100)
            mask = None if width is None else widths < width
            truth = [brute_force(vectors, q, mask, threshold) for q in queries]
            hits = round(float(np.mean([count for _, count in truth])))
            scope = scope_of(width)
            label = "no filter" if width is None else f"filter {width} %"
            figures = {
                "exact": measure(
                    conn,
                    queries[:exact_queries],
                    truth[:exact_queries],
                    lambda q, scope=scope: pgvector.search_exact(
                        conn, q, threshold, pgvector.slot_condition(KEY, DIM, scope)
                    ),
                ),
                "search": measure(
                    conn,
                    queries,
                    truth,
                    lambda q, scope=scope: pgvector.search(conn, KEY, q, threshold, scope),
                ),
            }
            for name, f in figures.items():
                ratio = f["p50"] / figures["exact"]["p50"]
                print(
                    f"{label + ', ' + name:<24} {f['p50']:>8} {f['p95']:>8} {f['mean']:>8} "
                    f"{f['recall@10']:>10} {f['complete']:>9} {hits:>6} {ratio:>9.2f}x",
                    flush=True,
                )


if __name__ == "__main__":
    main()
