"""Full text + facets, metadata + date sort and folded equality on PostgreSQL, at 100k images.

`bench/search.py`'s synthetic images (its own generator and seed: titles from a
vocabulary, 40 countries with a Zipf skew, dates 2000-2024, topical keywords plus `sel1`,
`sel10`, `sel50`; no vectors) are written with COPY into a throwaway PostgreSQL (the machine's,
as the tests start it: `tests.postgres.local_server`), migrated, with their set terms
and tsvectors built as apply builds them, then ANALYZEd. Each query runs through
`search_images` (the function behind GET /imgs, no model: `t~` is full text alone), its
formula parsed anew (`bench.search.search_afresh`):

    (c)  t~<word>, facets keywords + country    (20 words of the vocabulary, in turn; the
         facets come from the ranking's own scan, `FullText.rank_with_facets`)
    (d)  k=sel10 && d>=2015-1-1, sort_by=date desc
    (d') country=<country> && k=sel10           folded equality of a label field
    (e)  country=<country>                      folded equality alone

against, in the same run, the floor (the best single hand-written SQL statement that
gives the same page, count and facets) and DuckDB (in-process, the same rows loaded from
PostgreSQL; full text as a table of (pk, word), since its `fts` extension is a download).
Every answer is checked against the floor's: count, facets, page. `--explain` prints
EXPLAIN (ANALYZE, BUFFERS) of each statement the service issues for one query of each kind.

    .venv/bin/python -m bench.pg_facets [--size 100000] [--queries 30] [--data DIR] [--explain]

With --data the cluster lives in DIR and keeps its database between runs (a run that
finds --size images there skips the load; delete DIR after changing the schema).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from bench.search import CHUNK, CLUSTER, DIM, VOCABULARY, insert_chunk, search_afresh
from bench.stats import timed
from pixsearch.backend import open_backend
from pixsearch.db.engine import create_db_engine
from pixsearch.index.fulltext import postings_sql, tsvector_text
from pixsearch.search.service import (
    Page,
    Searcher,
    SearchParams,
    search_images,
)
from tests.postgres import bench_database

KEPT_DATABASE = "pixsearch_facets"
FACET_LIMIT = 20
LIMIT = 50
TS_WEIGHTS = "{0, 0.3333, 0.6667, 1}"
# The server's settings: the tables and indexes these queries read fit in shared buffers.
BENCH_SETTINGS = ("shared_buffers=1GB",)


# --- Data ------------------------------------------------------------------------------------


class Collected:
    """Stands for bench/search.py's SQLite connection: keeps the rows it is given per table."""

    def __init__(self) -> None:
        self.rows: dict[str, list[tuple[Any, ...]]] = {}

    def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        table = sql.split()[2].split("(")[0]
        self.rows.setdefault(table, []).extend(rows)


IMAGE_COLUMNS = (
    "id, org_id, image_id, src, title, country, date, keywords, width, height, aspect_ratio, "
    "orientation, created_at, updated_at"
)


def populate(engine: sa.Engine, size: int, seed: int = 0) -> None:
    """Organisation 1 with `size` images (bench/search.py's rows), organisation 2 with a
    copy of 2,000 of them (so that tenancy is part of every plan)."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((max(1, size // CLUSTER), DIM)).astype(np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(
            "INSERT INTO organisations (id, name, created_at) "
            "VALUES (1, 'bench', 0), (2, 'other', 0)"
        )
        first: dict[str, list[tuple[Any, ...]]] = {}
        for start in range(0, size, CHUNK):
            rows = Collected()
            insert_chunk(rows, rng, centers, start, min(CHUNK, size - start), "none")
            copy_chunk(cursor, rows.rows, offset=0, org=1)
            first = first or rows.rows
        copy_chunk(cursor, first, offset=size, org=2, share=0.1)  # pks grow, as apply's do
        for statement in postings_sql("true"):  # as the write half does
            cursor.execute(statement)
        raw.commit()
    finally:
        raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")


def copy_chunk(
    cursor: Any, rows: dict[str, list[tuple[Any, ...]]], offset: int, org: int, share: float = 1.0
) -> None:
    """COPY one chunk of images, terms and tsvectors, pks shifted by `offset`."""
    count = int(len(rows["images"]) * share)
    with cursor.copy(f"COPY images ({IMAGE_COLUMNS}) FROM STDIN") as copy:
        for row in rows["images"][:count]:
            copy.write_row((row[0] + offset, org, *row[2:]))
    last = rows["images"][count - 1][0] if count else 0
    with cursor.copy(
        "COPY image_terms (image_pk, org_id, field, value, value_norm) FROM STDIN"
    ) as copy:
        for pk, _, field, value, norm in rows["image_terms"]:
            if pk <= last:
                copy.write_row((pk + offset, org, field, value, norm))
    with cursor.copy("COPY images_fts (rowid, org_id, document) FROM STDIN") as copy:
        for pk, title, keywords, labels in rows["images_fts"]:
            if pk <= last:
                columns = (title, "", "", "", keywords, labels)
                copy.write_row((pk + offset, org, tsvector_text(columns)))


def holds_rows(engine: sa.Engine, size: int) -> bool:
    """Whether the database holds this benchmark's `size` images; otherwise it is emptied."""
    with engine.begin() as conn:
        have = conn.exec_driver_sql("SELECT count(*) FROM images WHERE org_id = 1").scalar()
        if have == size:
            return True
        conn.exec_driver_sql(
            "TRUNCATE organisations, images, image_terms, images_fts, images_fts_words CASCADE"
        )
    return False


# --- The queries -------------------------------------------------------------------------------


class Query:
    """One figure: its search parameters and the floor's SQL for the same answer."""

    def __init__(self, name: str, params: Callable[[int], SearchParams]) -> None:
        self.name = name
        self.params = params


def queries(size: int) -> list[Query]:
    del size
    return [
        Query(
            "(c)  full text + 2 facets",
            lambda i: SearchParams(
                q=f"t~{VOCABULARY[(i % 20) + 5]}",
                limit=LIMIT,
                facets=("keywords", "country"),
                facet_limit=FACET_LIMIT,
            ),
        ),
        Query(
            "(d)  metadata + date sort",
            lambda i: SearchParams(
                q="k=sel10 && d>=2015-1-1", limit=LIMIT, sort_by="date", sort_order="desc"
            ),
        ),
        Query(
            "(d') folded eq. && k=sel10",
            lambda i: SearchParams(q=f"country=country {i % 40:02d} && k=sel10", limit=LIMIT),
        ),
        Query(
            "(e)  folded equality",
            lambda i: SearchParams(q=f"country=COUNTRY {i % 40:02d}", limit=LIMIT),
        ),
    ]


Answer = tuple[int, list[str], dict[str, list[tuple[str, int]]]]  # count, page ids, facets


def of_page(page: Page) -> Answer:
    facets = {name: [(f["value"], f["count"]) for f in rows] for name, rows in page.facets.items()}
    return page.count or 0, [r["image_id"] for r in page.results], facets


# The floor: one statement per answer, written by hand for these data (no formula compiler).
FLOOR_TEXT = """
WITH hits AS (
  SELECT f.rowid AS pk, round(3 * ts_rank_cd(%(w)s::real[], f.document, q)) AS rank
  FROM images_fts f, CAST(%(word)s AS tsquery) q
  WHERE f.document @@ q AND f.org_id = 1
)
SELECT (SELECT count(*) FROM hits),
  (SELECT array_agg(i.image_id ORDER BY h.rank DESC, h.pk)
   FROM (SELECT * FROM hits ORDER BY rank DESC, pk LIMIT 50) h JOIN images i ON i.id = h.pk),
  (SELECT array_agg(v || '=' || n ORDER BY n DESC, k) FROM (
     SELECT min(t.value) AS v, count(DISTINCT t.image_pk) AS n, t.value_norm AS k
     FROM hits h JOIN image_terms t ON t.image_pk = h.pk AND t.field = 'keywords'
     GROUP BY t.value_norm ORDER BY n DESC, k LIMIT 20) kw),
  (SELECT array_agg(v || '=' || n ORDER BY n DESC, lower(v), v) FROM (
     SELECT i.country AS v, count(*) AS n FROM hits h JOIN images i ON i.id = h.pk
     WHERE i.country IS NOT NULL GROUP BY i.country
     ORDER BY n DESC, lower(i.country), i.country LIMIT 20) c)
"""
FLOOR_SORT = """
WITH hits AS (
  SELECT i.id, i.date, i.image_id FROM images i
  WHERE i.org_id = 1 AND i.date >= '2015-01-01' AND i.id IN (
    SELECT image_pk FROM image_terms
    WHERE org_id = 1 AND field = 'keywords' AND value_norm = 'sel10')
)
SELECT (SELECT count(*) FROM hits),
  (SELECT array_agg(image_id ORDER BY date DESC, id DESC) FROM (
     SELECT * FROM hits ORDER BY date DESC, id DESC LIMIT 50) p)
"""
FLOOR_FOLDED = """
WITH hits AS (
  SELECT i.id, i.created_at, i.image_id FROM images i
  WHERE i.org_id = 1 AND i.country = %(country)s {and_sel10}
)
SELECT (SELECT count(*) FROM hits),
  (SELECT array_agg(image_id ORDER BY created_at DESC, id DESC) FROM (
     SELECT * FROM hits ORDER BY created_at DESC, id DESC LIMIT 50) p)
"""
SEL10 = (
    "AND i.id IN (SELECT image_pk FROM image_terms "
    "WHERE org_id = 1 AND field = 'keywords' AND value_norm = 'sel10')"
)


def floor_answer(conn: sa.Connection, index: int, i: int) -> Answer:
    """The floor's answer to query `index` with parameter `i`."""
    if index == 0:
        word = VOCABULARY[(i % 20) + 5]
        row = conn.exec_driver_sql(FLOOR_TEXT, {"w": TS_WEIGHTS, "word": f"'{word}'"}).one()
        facets = {"keywords": split_facet(row[2]), "country": split_facet(row[3])}
        return row[0], list(row[1] or []), facets
    if index == 1:
        row = conn.exec_driver_sql(FLOOR_SORT).one()
        return row[0], list(row[1] or []), {}
    sql = FLOOR_FOLDED.format(and_sel10=SEL10 if index == 2 else "")
    # The bench's countries are stored in one spelling, so plain equality is the floor.
    row = conn.exec_driver_sql(sql, {"country": f"Country {i % 40:02d}"}).one()
    return row[0], list(row[1] or []), {}


def split_facet(values: list[str] | None) -> list[tuple[str, int]]:
    return [(v.rsplit("=", 1)[0], int(v.rsplit("=", 1)[1])) for v in values or []]


# --- DuckDB ----------------------------------------------------------------------------------


def load_duckdb(conn: sa.Connection) -> Any:
    """An in-memory DuckDB with the same images, terms and indexed words of organisation 1."""
    import duckdb

    duck = duckdb.connect()
    tables = {
        "images": "SELECT id, image_id, country, date, created_at FROM images WHERE org_id = 1",
        "terms": ("SELECT image_pk, field, value, value_norm FROM image_terms WHERE org_id = 1"),
        "words": (
            "SELECT f.rowid, unnest(tsvector_to_array(f.document)) FROM images_fts f "
            "JOIN images i ON i.id = f.rowid WHERE i.org_id = 1"
        ),
    }
    schemas = {
        "images": "id BIGINT, image_id TEXT, country TEXT, date TEXT, created_at BIGINT",
        "terms": "image_pk BIGINT, field TEXT, value TEXT, value_norm TEXT",
        "words": "pk BIGINT, word TEXT",
    }
    raw: Any = conn.connection.dbapi_connection
    with tempfile.TemporaryDirectory(prefix="pg-facets-") as directory:
        for name, select in tables.items():
            path = Path(directory) / f"{name}.csv"
            export = f"COPY ({select}) TO STDOUT WITH (FORMAT csv)"
            with path.open("wb") as out, raw.cursor().copy(export) as copy:
                for block in copy:
                    out.write(block)
            duck.execute(f"CREATE TABLE {name} ({schemas[name]})")
            duck.execute(f"COPY {name} FROM '{path}' (FORMAT csv)")
    duck.execute("CREATE INDEX words_word ON words (word)")
    return duck


DUCK_TEXT = """
WITH hits AS (SELECT DISTINCT pk FROM words WHERE word = $word)
SELECT (SELECT count(*) FROM hits),
  (SELECT list(v || '=' || n ORDER BY n DESC, k) FROM (
     SELECT min(t.value) AS v, count(DISTINCT t.image_pk) AS n, t.value_norm AS k
     FROM hits h JOIN terms t ON t.image_pk = h.pk AND t.field = 'keywords'
     GROUP BY t.value_norm ORDER BY n DESC, k LIMIT 20)),
  (SELECT list(v || '=' || n ORDER BY n DESC, lower(v), v) FROM (
     SELECT i.country AS v, count(*) AS n FROM hits h JOIN images i ON i.id = h.pk
     WHERE i.country IS NOT NULL GROUP BY i.country
     ORDER BY n DESC, lower(i.country), i.country LIMIT 20))
"""
DUCK_SORT = """
WITH hits AS (
  SELECT id, date, image_id FROM images WHERE date >= '2015-01-01' AND id IN (
    SELECT image_pk FROM terms WHERE field = 'keywords' AND value_norm = 'sel10'))
SELECT (SELECT count(*) FROM hits),
  (SELECT list(image_id ORDER BY date DESC, id DESC) FROM (
     SELECT * FROM hits ORDER BY date DESC, id DESC LIMIT 50))
"""
DUCK_FOLDED = """
WITH hits AS (
  SELECT id, created_at, image_id FROM images WHERE lower(strip_accents(country)) = $country
  {and_sel10})
SELECT (SELECT count(*) FROM hits),
  (SELECT list(image_id ORDER BY created_at DESC, id DESC) FROM (
     SELECT * FROM hits ORDER BY created_at DESC, id DESC LIMIT 50))
"""
DUCK_SEL10 = (
    "AND id IN (SELECT image_pk FROM terms WHERE field = 'keywords' AND value_norm = 'sel10')"
)


def duck_answer(duck: Any, index: int, i: int) -> Answer:
    """DuckDB's count and facets (full text: its page is not ranked, so it is left out)."""
    if index == 0:
        row = duck.execute(DUCK_TEXT, {"word": VOCABULARY[(i % 20) + 5]}).fetchone()
        return row[0], [], {"keywords": split_facet(row[1]), "country": split_facet(row[2])}
    if index == 1:
        row = duck.execute(DUCK_SORT).fetchone()
        return row[0], list(row[1] or []), {}
    sql = DUCK_FOLDED.format(and_sel10=DUCK_SEL10 if index == 2 else "")
    row = duck.execute(sql, {"country": f"country {i % 40:02d}"}).fetchone()
    return row[0], list(row[1] or []), {}


# --- Measuring -------------------------------------------------------------------------------


def check(name: str, got: list[Answer], expected: list[Answer], page: bool = True) -> None:
    for i, (mine, theirs) in enumerate(zip(got, expected, strict=True)):
        same = mine[0] == theirs[0] and mine[2] == theirs[2] and (not page or mine[1] == theirs[1])
        assert same, f"{name}, query {i}: {mine} != {theirs}"


def explain(engine: sa.Engine, searcher: Searcher, params: SearchParams) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) each statement that one search issues."""
    issued: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *rest: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            issued.append((statement, parameters))

    with engine.connect() as conn:
        sa.event.listen(engine, "before_cursor_execute", record)
        search_images(conn, searcher, 1, params)
        sa.event.remove(engine, "before_cursor_execute", record)
        for statement, parameters in issued:
            plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
            print("   ", statement.replace("\n", " ")[:300])
            for (line,) in plan:
                print("      ", line)


def index_sizes(conn: sa.Connection) -> None:
    """Bytes per image of each table and index that these queries read."""
    rows = conn.exec_driver_sql(
        "SELECT c.relname, pg_relation_size(c.oid) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i') AND ("
        " c.relname IN ('images', 'image_terms', 'images_fts') OR c.relname LIKE 'ix_image%%'"
        " OR c.relname LIKE 'images_%%') ORDER BY 1"
    )
    total = conn.exec_driver_sql("SELECT count(*) FROM images").scalar_one()
    print("  bytes per image:", ", ".join(f"{name} {n / total:.0f}" for name, n in rows))


def line(
    name: str, service: dict[str, float], floor: dict[str, float], duck: dict[str, float], hits: int
) -> None:
    print(
        f"  {name:27} service {service}  floor {floor}  DuckDB {duck}  "
        f"service/floor {service['p50'] / floor['p50']:.2f}x  "
        f"service/DuckDB {service['p50'] / duck['p50']:.2f}x  hits ~{hits:,}"
    )


def report(engine: sa.Engine, size: int, runs: int, show_plans: bool) -> None:
    backend = open_backend(engine)
    searcher = Searcher(backend, None, None)
    with engine.connect() as conn:
        started = time.perf_counter()
        duck = load_duckdb(conn)
        print(
            f"  DuckDB {__import__('duckdb').__version__} loaded in "
            f"{time.perf_counter() - started:.1f} s"
        )
        index_sizes(conn)
        for index, query in enumerate(queries(size)):
            service, answers = timed(
                runs, lambda i, q=query: of_page(search_afresh(conn, searcher, q.params(i)))
            )
            floor, expected = timed(runs, lambda i, n=index: floor_answer(conn, n, i))
            ducked, theirs = timed(runs, lambda i, n=index: duck_answer(duck, n, i))
            check(query.name + " (service)", answers, expected)
            check(query.name + " (DuckDB)", theirs, expected, page=index != 0)
            line(query.name, service, floor, ducked, answers[0][0])
    if show_plans:
        for query in queries(size):
            print(f"  EXPLAIN {query.name}: {query.params(0).q}")
            explain(engine, searcher, query.params(0))
    backend.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000, help="Images of organisation 1.")
    parser.add_argument("--queries", type=int, default=30, help="Timed queries per figure.")
    parser.add_argument("--data", help="Cluster directory kept between runs (reuses its rows).")
    parser.add_argument("--explain", action="store_true", help="Print the service's plans.")
    args = parser.parse_args()
    with bench_database(args.data, BENCH_SETTINGS, KEPT_DATABASE) as url:
        engine = create_db_engine(url)
        if holds_rows(engine, args.size):
            print(f"== {args.size:,} images already in {args.data}: load skipped")
        else:
            started = time.perf_counter()
            populate(engine, args.size)
            print(f"== {args.size:,} images written in {time.perf_counter() - started:.1f} s")
        report(engine, args.size, args.queries, args.explain)
        engine.dispose()


if __name__ == "__main__":
    main()
