"""Search latency at 10k, 100k and 1M images with 512-d vectors, against bare NumPy.

For each size a SQLite file is filled directly with SQL (the benchmark measures search, not
ingestion): images with realistic metadata (titles drawn from a vocabulary, 40 countries,
dates from 2000 to 2024, 2-4 topical keywords plus `sel1`, `sel10`, `sel50` on 1 %,
10 % and 50 % of the images), their set terms and full-text rows, and clustered unit
vectors (clusters of about 50; cosine within a cluster about 0.7). The file is kept and
reused when run again. Then, in-process through `search_images` (the function behind
GET /imgs), each formula parsed anew (the service keeps parsed formulas, and the cases ask
some formulas again):

    (a) i~<id>                      pure vector top 50
    (b) i~<id> && k=sel1|sel10|sel50 vector + filter (and d>=2000-1-1: 100 %), end to end
                                    (the filter's pks from the column index), with
                                    recall@10 against brute force
    (b') the same, pks given        the filter's pks already in memory: what the vector
                                    side alone costs
    (c) t~<word> + 2 facets         full text (no model) with facets keywords, country
    (d) k=sel10 && d>=2015-1-1      metadata only, sorted by date (newest first)
    (e) country=<c> [&& k=sel10]    folded label equality, newest first
    bare                            NumPy matrix-vector product + argpartition top 50
                                    over the same matrix the index searches; (a), (b) and
                                    (b') also time it on the same query just before each
                                    search, and print "x bare beside": their p50 over its
                                    p50 in those runs (this machine drifts 2x in minutes)

(c), (d) and (e) run against the same data loaded into the in-process peers the issue
names (`make install` puts them in the `bench` extra): tantivy for (c) (the same words
over title, keywords and country; facets as terms aggregations) and DuckDB for (d) and
(e) (a table of the same rows, the folded country precomputed, page + count). Each case
checks that both sides find the same hits (count, page) and facet counts, and prints
p50/p95 and the ratio pixsearch/peer; the peer answers each query just before pixsearch
does, so that both see the same drift. The peers' copies are cached beside the database.

The CLIP model is a tiny one built with 512 dimensions whose `~` image threshold is -1,
so that every image qualifies and (a) and (b) are exact top-k over all rows: the hardest
case, and the one bare NumPy computes. The vectors load once before timing (load time
reported). `--http` adds (a) through a real uvicorn server (its own index).

    .venv/bin/python -m bench.search --sizes 10000,100000,1000000 [--queries 30] [--http]
        [--cases a,b,c,d,e] [--dir /work/benchdata/columns]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from bench.stats import percentiles, timed
from pixsearch.backend import Backend, open_backend
from pixsearch.db.dialect import SQLiteDialect
from pixsearch.db.engine import create_db_engine
from pixsearch.db.migrate import upgrade
from pixsearch.index.embeddings import SQLiteEmbeddings
from pixsearch.runtimes.clip import ClipModel
from pixsearch.search import columnar
from pixsearch.search.compiler import select_pks
from pixsearch.search.parser import parse_formula
from pixsearch.search.service import Page, Searcher, SearchParams, search_images
from pixsearch.vocabulary.text import fold
from tests.runtimes.tinymodels import build_tiny_clip

DIM = 512
# The filters of (b) and (b') by the share of images they keep.
VECTOR_FILTERS = {1: "k=sel1", 10: "k=sel10", 50: "k=sel50", 100: "d>=2000-1-1"}
CHUNK = 20_000
WARM_UP = -1  # the query each timing runs once first: queries are indexed from -1
CLUSTER = 50
NOISE = 0.029  # per dimension: two members of a cluster have cosine about 0.7
COUNTRIES = [f"Country {i:02d}" for i in range(40)]
VOCABULARY = (
    "red blue green black white yellow dress shirt shoes hat coat jacket skirt pants beach "
    "mountain city street night sunset river forest snow car bike dog cat bird horse man "
    "woman child people portrait market festival bridge tower church garden park lake sea "
    "boat train station airport road field flower tree house window door kitchen table "
    "chair book phone camera coffee bread fruit wine cheese music dance sport football "
    "tennis running swimming winter summer spring autumn rain storm cloud sky moon star"
).split()


def zipf_choice(rng: np.random.Generator, size: int, count: int) -> np.ndarray:
    """Indexes in [0, size) with a Zipf-like skew: a few values are common, most rare."""
    weights = 1.0 / np.arange(1, size + 1)
    return rng.choice(size, count, p=weights / weights.sum())


def build_model(directory: Path) -> ClipModel:
    path = build_tiny_clip(directory / "bench-clip", dim=DIM)
    config = json.loads((path / "config.json").read_text())
    config["image_thresholds"] = {"~": -1.0, "~~": 0.5, "~~~": 0.8}
    (path / "config.json").write_text(json.dumps(config))
    return ClipModel(path)


def populate(engine: sa.Engine, size: int, model: str, seed: int = 0) -> None:
    """Fill an empty database with `size` images of organisation 1, in chunks."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((max(1, size // CLUSTER), DIM)).astype(np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    raw = engine.raw_connection()
    try:
        db: Any = raw.driver_connection
        db.execute("PRAGMA synchronous=OFF")
        db.execute("BEGIN")
        db.execute("INSERT INTO organisations(id, name, created_at) VALUES (1, 'bench', 0)")
        for start in range(0, size, CHUNK):
            insert_chunk(db, rng, centers, start, min(CHUNK, size - start), model)
        db.execute("COMMIT")
    finally:
        raw.close()


def insert_chunk(
    db: Any, rng: np.random.Generator, centers: np.ndarray, start: int, count: int, model: str
) -> None:
    pks = np.arange(start + 1, start + count + 1)
    words = zipf_choice(rng, len(VOCABULARY), count * 4).reshape(count, 4)
    topics = zipf_choice(rng, len(VOCABULARY), count * 3).reshape(count, 3)
    countries = zipf_choice(rng, len(COUNTRIES), count)
    days = rng.integers(0, 25 * 365, count)
    flags = rng.random((count, 3)) < np.array([0.01, 0.10, 0.50])
    sizes = rng.choice([(1920, 1080), (1080, 1920), (1000, 1000), (4000, 3000)], count)
    clusters = rng.integers(0, len(centers), count)
    vectors = centers[clusters] + NOISE * rng.standard_normal((count, DIM), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    image_rows, term_rows, text_rows, vector_rows = [], [], [], []
    for i, pk in enumerate(pks.tolist()):
        keywords = list(dict.fromkeys(VOCABULARY[t] for t in topics[i]))
        keywords += [
            name for name, on in zip(("sel1", "sel10", "sel50"), flags[i], strict=True) if on
        ]
        title = " ".join(VOCABULARY[w] for w in words[i])
        width, height = (int(v) for v in sizes[i])
        date = np.datetime64("2000-01-01") + int(days[i])
        orientation = "landscape" if width > height else "portrait" if width < height else "square"
        image_rows.append(
            (
                pk,
                1,
                f"img{pk}",
                f"https://example.com/{pk}.jpg",
                title,
                COUNTRIES[countries[i]],
                str(date),
                json.dumps(keywords),
                width,
                height,
                width / height,
                orientation,
                pk,
                pk,
            )
        )
        term_rows.extend((pk, 1, "keywords", word, word) for word in keywords)
        text_rows.append((pk, title, " ".join(keywords), COUNTRIES[countries[i]]))
        vector_rows.append((pk, "clip", 1, model, vectors[i].tobytes()))
    db.executemany(
        "INSERT INTO images(id, org_id, image_id, src, title, country, date, keywords, width, "
        "height, aspect_ratio, orientation, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        image_rows,
    )
    db.executemany(
        "INSERT INTO image_terms(image_pk, org_id, field, value, value_norm) "
        "VALUES (?, ?, ?, ?, ?)",
        term_rows,
    )
    db.executemany(
        "INSERT INTO images_fts(rowid, title, headline, caption, alt_text, keywords, labels) "
        "VALUES (?, ?, '', '', '', ?, ?)",
        text_rows,
    )
    db.executemany(
        "INSERT INTO embeddings(image_pk, kind, org_id, model, vector) VALUES (?, ?, ?, ?, ?)",
        vector_rows,
    )


def open_database(directory: Path, size: int, model: str) -> sa.Engine:
    """The benchmark's database of `size` images, built unless a complete one exists."""
    path = directory / f"search-{size}.db"
    engine = create_db_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as conn:
        have = conn.execute(
            sa.text("SELECT count(*) FROM embeddings WHERE model = :m"), {"m": model}
        ).scalar()
    if have != size:
        engine.dispose()
        path.unlink(missing_ok=True)
        engine = create_db_engine(f"sqlite:///{path}")
        upgrade(engine)
        started = time.perf_counter()
        populate(engine, size, model)
        print(
            f"  built {path.name} in {time.perf_counter() - started:.0f} s "
            f"({path.stat().st_size / 2**30:.2f} GiB)"
        )
    with engine.begin() as conn:
        stats = "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'"
        if not conn.exec_driver_sql(stats).scalar():
            # Table statistics, as housekeeping should keep them: without them SQLite
            # assumes `org_id = ?` picks ten rows and scans the organisation's index.
            conn.exec_driver_sql("ANALYZE")
    return engine


def bare_top(matrix: np.ndarray, query: np.ndarray, k: int = 50) -> np.ndarray:
    scores = matrix @ query
    top = np.argpartition(-scores, k)[:k]
    return top[np.argsort(-scores[top])]


def recall_at_10(
    page: Page, matrix: np.ndarray, pks: np.ndarray, allowed: np.ndarray, query: np.ndarray
) -> float:
    """Share of the brute-force top 10 (float64, over the allowed rows) in the page's top 10."""
    exact = np.concatenate(  # in chunks: a float64 copy of 1M rows would take 4 GiB
        [
            matrix[start : start + CHUNK].astype(np.float64) @ query.astype(np.float64)
            for start in range(0, len(matrix), CHUNK)
        ]
    )
    rows = np.flatnonzero(np.isin(pks, allowed))
    truth = set(pks[rows[np.argsort(-exact[rows])[:10]]].tolist())
    got = {int(result["image_id"][3:]) for result in page.results[:10]}
    return len(truth & got) / len(truth)


def search_afresh(conn: sa.Connection, searcher: Searcher, params: SearchParams) -> Page:
    """`search_images` of a formula parsed as if never seen: the service keeps parsed
    formulas, and the cases repeat their formulas, which a peer parses every time."""
    parse_formula.cache_clear()
    return search_images(conn, searcher, 1, params)


class PksInMemory(SQLiteDialect):
    """SQLite whose filter pks are already in memory: `fetch_pks` answers `pks` (b')."""

    def __init__(self, pks: np.ndarray) -> None:
        self.pks = pks

    def fetch_pks(self, conn: sa.Connection, statement: Any) -> np.ndarray:
        return self.pks


def timed_beside(
    runs: int, call: Callable[[int], Any], peer: Callable[[int], Any]
) -> tuple[dict[str, float], list[Any], dict[str, float], list[Any]]:
    """`timed` of `call` and of `peer`, the peer answering each query just before `call`
    does: the ratio of their p50s is the figure this machine's drift moves least."""
    call(WARM_UP)
    peer(WARM_UP)
    times, peer_times, answers, peer_answers = [], [], [], []
    for i in range(runs):
        started = time.perf_counter()
        peer_answers.append(peer(i))
        middle = time.perf_counter()
        answers.append(call(i))
        times.append((time.perf_counter() - middle) * 1000)
        peer_times.append((middle - started) * 1000)
    return (
        percentiles(times, (50, 95)),
        answers,
        percentiles(peer_times, (50, 95)),
        peer_answers,
    )


def timed_beside_bare(
    runs: int, call: Callable[[int], Any], floor: Callable[[int], Any]
) -> tuple[dict[str, float], list[Any], float]:
    """`timed_beside` bare NumPy: also p50 over the floor's p50 of those runs."""
    figures, answers, floors, _ = timed_beside(runs, call, floor)
    return figures, answers, figures["p50"] / floors["p50"]


def time_vector_cases(
    conn: sa.Connection,
    search: Callable[..., Page],
    backend: Backend,
    model: ClipModel,
    snap: Any,
    targets: list[int],
    queries: list[np.ndarray],
    runs: int,
) -> None:
    """(a), then (b) end to end and (b') with the filter's pks given at each selectivity;
    each against bare NumPy timed beside it."""

    def floor(i: int) -> Any:
        return bare_top(snap.matrix, queries[i])

    bare, _ = timed(runs, floor, WARM_UP)
    print(f"  bare NumPy top 50      {bare}")
    pure, pages, beside = timed_beside_bare(runs, lambda i: search(f"i~img{targets[i]}"), floor)
    assert all(page.results[0]["image_id"] == f"img{targets[i]}" for i, page in enumerate(pages))
    print(f"  (a) vector top 50      {pure}  ({beside:.2f}x bare beside)")
    for share, condition in VECTOR_FILTERS.items():
        allowed = np.unique(
            backend.dialect.fetch_pks(conn, select_pks(parse_formula(condition), 1))
        )
        # No column index: ScopePks asks the dialect, which answers the pks at once.
        pinned = Searcher(replace(backend, dialect=PksInMemory(allowed), columns=None), model, None)
        for case, searcher in (("(b) ", None), ("(b')", pinned)):
            figures, pages, beside = timed_beside_bare(
                runs,
                lambda i, c=condition, s=searcher: search(
                    f"i~img{targets[i]} && {c}", **({"searcher": s} if s else {})
                ),
                floor,
            )
            recalls = [
                recall_at_10(p, snap.matrix, snap.pks, allowed, queries[i])
                for i, p in enumerate(pages)
            ]
            given = "pks given" if searcher else "end to end"
            print(
                f"  {case} vector + {share:3d} % {given:10s} {figures}  "
                f"({beside:.2f}x bare beside), "
                f"recall@10 min {min(recalls):.3f}, hits {pages[0].count:,}"
            )


def run_size(
    directory: Path, size: int, runs: int, model: ClipModel, http: bool, cases: set[str]
) -> None:
    print(f"== {size:,} images")
    engine = open_database(directory, size, model.name)
    backend = open_backend(engine)
    if cases & {"a", "b"}:
        run_vectors(engine, backend, size, runs, model)
    if cases & {"c", "d", "e"}:
        run_columns(directory, engine, backend, size, runs, cases)
    backend.close()
    if http:
        targets = np.random.default_rng(1).integers(1, size + 1, runs + 1).tolist()
        run_http(engine, targets, runs, model)
    engine.dispose()


def run_vectors(engine: sa.Engine, backend: Any, size: int, runs: int, model: ClipModel) -> None:
    """(a) and (b) against bare NumPy."""
    assert isinstance(backend.embeddings, SQLiteEmbeddings)
    index = backend.embeddings.vectors
    searcher = Searcher(backend, model, None)
    rng = np.random.default_rng(1)
    targets = rng.integers(1, size + 1, runs + 1).tolist()
    key = (1, "clip", model.name)
    started = time.perf_counter()
    snap = index.snapshot(key)
    print(
        f"  vectors loaded in {time.perf_counter() - started:.1f} s, "
        f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB"
    )
    by_pk = np.argsort(snap.pks)
    rows = by_pk[np.searchsorted(snap.pks[by_pk], targets)]
    queries = [snap.matrix[row] for row in rows]

    with engine.connect() as conn:

        def search(q: str, searcher: Searcher = searcher, **kwargs: Any) -> Page:
            return search_afresh(conn, searcher, SearchParams(q=q, limit=50, **kwargs))

        time_vector_cases(conn, search, backend, model, snap, targets, queries, runs)


# --- (c), (d), (e): the column index against tantivy and DuckDB ---------------------------

FACETS = ("keywords", "country")


def export_rows(engine: sa.Engine) -> list[tuple[int, str, str, str, list[str]]]:
    """(pk, title, country, date, keywords) of every image, for the peers."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT id, title, country, date, keywords FROM images ORDER BY id"
        ).all()
    return [
        (pk, title, country, date, json.loads(keywords))
        for pk, title, country, date, keywords in rows
    ]


def open_duckdb(directory: Path, size: int, rows: list[Any]) -> Any:
    """DuckDB in memory over the same rows (a CSV copy is cached beside the database)."""
    import duckdb

    path = directory / f"duckdb-{size}.csv"
    if not path.exists():
        with path.open("w", encoding="utf-8") as out:
            out.write("id,title,country,country_fold,date,keywords\n")
            for pk, title, country, date, keywords in rows:
                out.write(f"{pk},{title},{country},{fold(country)},{date},{'|'.join(keywords)}\n")
    db = duckdb.connect()
    db.execute(
        "CREATE TABLE images AS SELECT id, title, country, country_fold, date::DATE AS date, "
        f"string_split(keywords, '|') AS keywords FROM read_csv('{path}', header = true, "
        "columns = {'id': 'BIGINT', 'title': 'VARCHAR', 'country': 'VARCHAR', "
        "'country_fold': 'VARCHAR', 'date': 'VARCHAR', 'keywords': 'VARCHAR'})"
    )
    return db


def open_tantivy(directory: Path, size: int, rows: list[Any]) -> Any:
    """A tantivy index of the same rows: words of title, keywords and country; keywords
    and country also as raw fast fields for the facets (built once, then reused)."""
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("pk", stored=True, fast=True)
    for name in ("title", "keywords", "country"):
        builder.add_text_field(name)
    for name in ("keywords_raw", "country_raw"):
        builder.add_text_field(name, fast=True, tokenizer_name="raw")
    schema = builder.build()
    path = directory / f"tantivy-{size}"
    if path.exists() and tantivy.Index(schema, path=str(path)).searcher().num_docs == size:
        return tantivy.Index(schema, path=str(path))
    path.mkdir(exist_ok=True)
    for old in path.iterdir():
        old.unlink()
    index = tantivy.Index(schema, path=str(path))
    writer = index.writer(heap_size=1_000_000_000, num_threads=1)  # one segment: exact facets
    for pk, title, country, _, keywords in rows:
        document = tantivy.Document(pk=pk, title=title, country=country, country_raw=country)
        for keyword in keywords:
            document.add_text("keywords", keyword)
            document.add_text("keywords_raw", keyword)
        writer.add_document(document)
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    return index


def tantivy_search(index: Any, word: str) -> tuple[int, list[int], dict[str, dict[str, int]]]:
    """Hits, the top 50 pks and the two facets (top 20 of each), as pixsearch answers them."""
    searcher = index.searcher()
    query = index.parse_query(word, ["title", "keywords", "country"])
    found = searcher.search(query, 50, count=True)
    pks = [searcher.doc(address)["pk"][0] for _, address in found.hits]
    aggregations = {name: {"terms": {"field": f"{name}_raw", "size": 20}} for name in FACETS}
    answer = searcher.aggregate(query, aggregations)
    facets = {
        name: {bucket["key"]: bucket["doc_count"] for bucket in answer[name]["buckets"]}
        for name in FACETS
    }
    return found.count, pks, facets


def duckdb_page(db: Any, where: str, order: str) -> tuple[int, list[int]]:
    """One page of 50 whole rows and the count, as pixsearch answers them."""
    page = db.execute(f"SELECT * FROM images WHERE {where} ORDER BY {order} LIMIT 50").fetchall()
    count = db.execute(f"SELECT count(*) FROM images WHERE {where}").fetchone()[0]
    return count, [row[0] for row in page]


def same_facets(page: Page, peer: dict[str, dict[str, int]]) -> bool:
    """The facet counts agree: the same counts, and the same count for every shared value
    (at the cut of the top 20 two engines may pick different values of equal count)."""
    for name in FACETS:
        mine = {item["value"]: item["count"] for item in page.facets[name]}
        if sorted(mine.values()) != sorted(peer[name].values()):
            return False
        if any(mine[value] != peer[name][value] for value in mine.keys() & peer[name].keys()):
            return False
    return True


def pks_of(page: Page) -> list[int]:
    return [int(result["image_id"][3:]) for result in page.results]


def compare(
    label: str, mine: dict[str, float], peer: dict[str, float], name: str, note: str
) -> None:
    print(
        f"  {label} {mine}  {name} {peer}  ({mine['p50'] / peer['p50']:.2f}x {name} p50, "
        f"{mine['p95'] / peer['p95']:.2f}x p95){note}"
    )


def run_columns(
    directory: Path, engine: sa.Engine, backend: Any, size: int, runs: int, cases: set[str]
) -> None:
    """(c), (d), (e) through `search_images`, each beside its peer on the same data."""
    text_only = Searcher(backend, None, None)
    sql_only = Searcher(dataclasses.replace(backend, columns=None), None, None)  # as before
    started = time.perf_counter()
    rows = export_rows(engine)
    tantivy_index = open_tantivy(directory, size, rows) if "c" in cases else None
    duck = open_duckdb(directory, size, rows) if cases & {"d", "e"} else None
    del rows
    print(f"  peers ready in {time.perf_counter() - started:.1f} s")
    with engine.connect() as conn:

        def search(q: str, searcher: Searcher = text_only, **kwargs: Any) -> Page:
            return search_afresh(conn, searcher, SearchParams(q=q, limit=50, **kwargs))

        def facets_of(pks: np.ndarray) -> Any:
            assert backend.columns is not None
            with backend.columns.reading(1) as slot:
                return columnar.count_facets(slot, slot.of_pks(pks), FACETS, 20)

        assert backend.columns is not None
        started = time.perf_counter()
        with backend.columns.reading(1) as slot:
            print(
                f"  columns loaded in {time.perf_counter() - started:.1f} s, "
                f"{slot.nbytes() / size:.0f} bytes per image"
            )
        words = [VOCABULARY[(i % 20) + 5] for i in range(-1, runs)]
        if tantivy_index is not None:
            mine, pages, peer, answers = timed_beside(
                runs,
                lambda i: search(f"t~{words[i + 1]}", facets=FACETS),
                lambda i: tantivy_search(tantivy_index, words[i + 1]),
            )
            bare, _ = timed(runs, lambda i: search(f"t~{words[i + 1]}"), WARM_UP)
            hits = all(p.count == a[0] for p, a in zip(pages, answers, strict=True))
            facets = all(same_facets(p, a[2]) for p, a in zip(pages, answers, strict=True))
            compare(
                "(c) full text + 2 facets",
                mine,
                peer,
                "tantivy",
                f"; without facets {bare}; same hits {hits}, same facets {facets}, "
                f"hits ~{pages[0].count:,}",
            )
            ranked = [backend.fulltext.rank(conn, 1, word, "en", None) for word in words]
            alone, _ = timed(runs, lambda i: facets_of(ranked[i + 1]), WARM_UP)
            before, _ = timed(
                min(runs, 5),
                lambda i: search(f"t~{words[i + 1]}", sql_only, facets=FACETS),
                WARM_UP,
            )
            print(
                f"      the 2 facets alone {alone} ({alone['p50'] / peer['p50']:.2f}x tantivy's "
                f"whole query); SQL facets as before {before}"
            )
        if duck is None:
            return
        cases_sql = [
            (
                "(d) k=sel10 && d>=2015-1-1, by date",
                "k=sel10 && d>=2015-1-1",
                {"sort_by": "date", "sort_order": "desc"},
                "list_contains(keywords, 'sel10') AND date >= DATE '2015-01-01'",
                "date DESC, id DESC",
                "d",
            ),
            (
                "(e) country=country 03",
                "country=country 03",
                {},
                "country_fold = 'country 03'",
                "id DESC",
                "e",
            ),
            (
                "(e) country=country 03 && k=sel10",
                "country=country 03 && k=sel10",
                {},
                "country_fold = 'country 03' AND list_contains(keywords, 'sel10')",
                "id DESC",
                "e",
            ),
        ]
        for label, formula, options, where, order, case in cases_sql:
            if case not in cases:
                continue
            mine, pages, peer, answers = timed_beside(
                runs,
                lambda i, f=formula, o=options: search(f, **o),
                lambda i, w=where, o=order: duckdb_page(duck, w, o),
            )
            same = pages[0].count == answers[0][0] and pks_of(pages[0]) == answers[0][1]
            before, _ = timed(
                min(runs, 5), lambda i, f=formula, o=options: search(f, sql_only, **o), WARM_UP
            )
            compare(
                label,
                mine,
                peer,
                "DuckDB",
                f"; same hits {same}, hits {pages[0].count:,}; SQL as before {before}",
            )


def run_http(engine: sa.Engine, targets: list[int], runs: int, model: ClipModel) -> None:
    """(a) through a real server: uvicorn on loopback, httpx keep-alive client."""
    import threading

    import httpx
    import uvicorn

    from pixsearch.app import create_app
    from pixsearch.config import Settings
    from pixsearch.db.engine import writer
    from pixsearch.tenants.service import create_key

    with writer(engine).begin() as conn:
        key = create_key(conn, "bench")
    settings = Settings(
        database_url=str(engine.url),
        clip_model=str(model.path),
        text_model="",
        face_detector="off",
        data_dir=Path(str(engine.url.database)).parent / "data",
    )
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, run_workers=False), host="127.0.0.1", port=0, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"API-Key": key}) as client:

        def get(i: int) -> Any:
            answer = client.get("/imgs", params={"q": f"i~img{targets[i]}", "limit": 50})
            answer.raise_for_status()
            return answer

        figures, _ = timed(runs, get, WARM_UP)
    print(f"  (a) over HTTP          {figures}")
    server.should_exit = True
    thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="Comma-separated image counts.")
    parser.add_argument("--queries", type=int, default=30, help="Timed queries per figure.")
    parser.add_argument(
        "--dir", type=Path, default=Path("/tmp/pixsearch-bench"), help="Where the databases go."
    )
    parser.add_argument("--http", action="store_true", help="Also time (a) over HTTP.")
    parser.add_argument("--cases", default="a,b,c,d,e", help="Comma-separated cases to run.")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    model = build_model(args.dir)
    for size in (int(part) for part in args.sizes.split(",")):
        run_size(args.dir, size, args.queries, model, args.http, set(args.cases.split(",")))


if __name__ == "__main__":
    main()
