"""Full-text ranking (`t~`) on SQLite at 100k and 1M documents, against tantivy in the same run.

The documents are those of `bench/search.py` (its generator, without the vectors: titles
of four words from a Zipf-skewed vocabulary, 2-4 topical keywords plus `sel1`, `sel10`,
`sel50`, a country as label), in a SQLite file kept and reused under `--dir`. Per query
kind (one common word, one rare word, three words, a common word within the 10 % scope
`k=sel10`), p50/p95 in ms of:

    fts5                     the FTS5 path as it was: bm25() over every match, ORDER BY,
                             the join (`FullText.rank` over `SQLiteFullText.ranked`)
    fts5 match only          FTS5's match set alone, no ranking (what any FTS5 path costs)
    memory                   `SQLiteFullText.rank`: the postings in memory (index/postings)
    memory, scope pks given  the same with the scope's pks known (as the search passes them)
    search_images            the whole search: rank, fuse, count, a page of 50
    memory scores + top 50   every match scored, only the best 50 ordered (a lazy search)
    tantivy top 50 + count   tantivy's own search over the same documents
    tantivy every match      tantivy asked for every match with its score (what it would
                             have to give as the index for SQLite)

and the ratios to tantivy's top 50 + count. Every path's match set and count are checked
against the others (the same images, or the run stops). The memory index's load time and
its memory per image are printed.

    .venv/bin/python -m bench.fulltext --sizes 100000,1000000 [--queries 20] [--dir DIR]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from bench.search import VOCABULARY, populate
from bench.stats import timed
from pixsearch.backend import open_backend
from pixsearch.db.dialect import SQLiteDialect
from pixsearch.db.engine import create_db_engine
from pixsearch.db.migrate import upgrade
from pixsearch.index.fulltext import (
    WEIGHTS,
    FullText,
    SQLiteFullText,
    match_expression,
    query_terms,
    query_words,
)
from pixsearch.search.compiler import compile_filter, select_pks
from pixsearch.search.fusion import Hits, top_order
from pixsearch.search.parser import parse_formula
from pixsearch.search.service import Searcher, SearchParams, search_images

SCOPE_SQL = "images.id IN (SELECT image_pk FROM image_terms WHERE value_norm = 'sel10')"
COLUMNS = ("title", "headline", "caption", "alt_text", "keywords", "labels")


class WithoutVectors:
    """A sqlite3 connection that drops the generator's embeddings rows: text only."""

    def __init__(self, db: Any) -> None:
        self.db = db

    def execute(self, sql: str, *args: Any) -> Any:
        return self.db.execute(sql, *args)

    def executemany(self, sql: str, rows: Any) -> Any:
        if sql.startswith("INSERT INTO embeddings"):
            return None
        return self.db.executemany(sql, rows)


def open_database(directory: Path, size: int) -> sa.Engine:
    """The benchmark's database of `size` documents, built unless a complete one exists."""
    path = directory / f"fulltext-{size}.db"
    engine = create_db_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as conn:
        have = conn.exec_driver_sql("SELECT count(*) FROM images").scalar()
    if have != size:
        engine.dispose()
        path.unlink(missing_ok=True)
        engine = create_db_engine(f"sqlite:///{path}")
        upgrade(engine)
        started = time.perf_counter()
        populate(TextOnlyEngine(engine), size, "none")  # type: ignore[arg-type]
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        print(f"  built {path.name} in {time.perf_counter() - started:.0f} s")
    return engine


class TextOnlyEngine:
    """The engine `populate` fills, its raw connection without vectors."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def raw_connection(self) -> Any:
        raw = self.engine.raw_connection()
        return RawWithoutVectors(raw)


class RawWithoutVectors:
    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.driver_connection = WithoutVectors(raw.driver_connection)

    def close(self) -> None:
        self.raw.close()


# --- tantivy -------------------------------------------------------------------------------


def build_tantivy(engine: sa.Engine, directory: Path) -> Any:
    """A tantivy index of the same documents (a field per column, pk stored as fast field)."""
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("pk", stored=True, fast=True, indexed=True)
    for name in COLUMNS:
        builder.add_text_field(name, stored=False, tokenizer_name="default")
    schema = builder.build()
    index = tantivy.Index(schema, path=None)
    writer = index.writer(heap_size=200_000_000, num_threads=1)
    started = time.perf_counter()
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(f"SELECT rowid, {', '.join(COLUMNS)} FROM images_fts")
        for row in rows:
            document = tantivy.Document(pk=int(row[0]))
            for name, text in zip(COLUMNS, row[1:], strict=True):
                if text:
                    document.add_text(name, text)
            writer.add_document(document)
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    print(f"  tantivy built in {time.perf_counter() - started:.0f} s")
    return index


def tantivy_query(index: Any, terms: list[str], scope: bool) -> Any:
    """Any of the words in any column (weighted as BM25's columns), optionally within sel10."""
    import tantivy

    should = [
        (
            tantivy.Occur.Should,
            tantivy.Query.boost_query(
                tantivy.Query.term_query(index.schema, name, term.lower()), weight
            ),
        )
        for term in terms
        for name, weight in zip(COLUMNS, WEIGHTS, strict=True)
    ]
    query = tantivy.Query.boolean_query(should)
    if scope:
        within = tantivy.Query.const_score_query(
            tantivy.Query.term_query(index.schema, "keywords", "sel10"), 0.0
        )
        query = tantivy.Query.boolean_query(
            [(tantivy.Occur.Must, query), (tantivy.Occur.Must, within)]
        )
    return query


def tantivy_pks(searcher: Any, query: Any, limit: int) -> tuple[list[int], int]:
    result = searcher.search(query, limit=limit, count=True)
    pks = [searcher.doc(address)["pk"][0] for _, address in result.hits]
    return pks, result.count


# --- FTS5 ------------------------------------------------------------------------------------


def fts5_match(conn: sa.Connection, terms: list[str], scope: Any) -> np.ndarray:
    """The match set only: no bm25(), no ORDER BY (group_concat, parsed by NumPy)."""
    condition = f" AND {scope}" if scope is not None else ""
    text = conn.exec_driver_sql(
        "SELECT group_concat(images_fts.rowid) FROM images_fts "
        "JOIN images ON images.id = images_fts.rowid "
        f"WHERE images_fts MATCH ? AND images.org_id = 1{condition}",
        (match_expression(terms),),
    ).scalar()
    return np.fromstring(text or "", dtype=np.int64, sep=",")


# --- The run ---------------------------------------------------------------------------------


def query_kinds(runs: int) -> dict[str, list[tuple[str, str]]]:
    """Per kind, `runs + 1` (text, scope formula or '') pairs."""
    common = VOCABULARY[:6]
    rare = VOCABULARY[-30:]
    middle = VOCABULARY[5:25]
    return {
        "common word": [(common[i % len(common)], "") for i in range(runs + 1)],
        "rare word": [(rare[i % len(rare)], "") for i in range(runs + 1)],
        "3 words": [
            (" ".join(middle[(i + j * 7) % len(middle)] for j in range(3)), "")
            for i in range(runs + 1)
        ],
        "common, 10 % scope": [(common[i % len(common)], "k=sel10") for i in range(runs + 1)],
    }


def run_size(directory: Path, size: int, runs: int) -> None:
    print(f"== {size:,} documents")
    engine = open_database(directory, size)
    index = build_tantivy(engine, directory)
    searcher = Searcher(open_backend(engine))
    fulltext = searcher.backend.fulltext
    assert isinstance(fulltext, SQLiteFullText)
    with engine.connect() as conn:
        started = time.perf_counter()
        fulltext.rank(conn, 1, "warm", "en", None)  # loads the organisation's postings
        print(
            f"  memory index loaded in {time.perf_counter() - started:.1f} s, "
            f"{fulltext.postings.memory_bytes(1) / size:.0f} bytes per document"
        )
        for kind, queries in query_kinds(runs).items():
            measure(kind, queries, runs, conn, searcher, index)
    searcher.backend.close()
    engine.dispose()


def measure(
    kind: str,
    queries: list[tuple[str, str]],
    runs: int,
    conn: sa.Connection,
    searcher: Searcher,
    index: Any,
) -> None:
    """Time every path over the same queries, check they agree, print one line."""
    fulltext = searcher.backend.fulltext
    assert isinstance(fulltext, SQLiteFullText)
    formulas = {scope: parse_formula(scope) for _, scope in queries if scope}
    conditions = {scope: compile_filter(node, 1) for scope, node in formulas.items() if node}
    scope_pks = {
        scope: SQLiteDialect().fetch_pks(conn, select_pks(node, 1))
        for scope, node in formulas.items()
        if node
    }
    terms = [query_terms(text, "en") for text, _ in queries]
    tantivy_queries = [
        tantivy_query(index, words, bool(scope))
        for words, (_, scope) in zip(terms, queries, strict=True)
    ]
    tantivy_searcher = index.searcher()

    def rank(i: int) -> Any:
        text, scope = queries[i]
        return fulltext.rank(conn, 1, text, "en", conditions.get(scope))

    def rank_within(i: int) -> Any:
        text, scope = queries[i]
        known = scope_pks.get(scope)
        within = (lambda: known) if known is not None else None
        return fulltext.rank(conn, 1, text, "en", conditions.get(scope), within)

    def rank_fts5(i: int) -> Any:  # the path as it was: the base class's, over `ranked`
        text, scope = queries[i]
        return FullText.rank(fulltext, conn, 1, text, "en", conditions.get(scope))

    def top_only(i: int) -> Any:
        """What a search that pages lazily would need: the scores, then the best 50."""
        text, scope = queries[i]
        known = scope_pks.get(scope)
        scored = fulltext.postings.search(1, query_words(text, "en"), known)
        return top_order(Hits.of(scored.pks, scored.scores), 50, descending=True)

    def search(i: int) -> Any:
        text, scope = queries[i]
        formula = " && ".join(part for part in (f"t~{text}", scope) if part)
        return search_images(conn, searcher, 1, SearchParams(q=formula))

    memory, ranked = timed(runs, rank)
    known, _ = timed(runs, rank_within)
    fts5, ranked_fts5 = timed(runs, rank_fts5)
    matched, sets = timed(
        runs, lambda i: fts5_match(conn, terms[i], SCOPE_SQL if queries[i][1] else None)
    )
    service, pages = timed(runs, search)
    top_memory, _ = timed(runs, top_only)
    top, answers = timed(runs, lambda i: tantivy_pks(tantivy_searcher, tantivy_queries[i], 50))
    everything, _ = timed(
        max(3, runs // 5),
        lambda i: tantivy_searcher.search(tantivy_queries[i], limit=10**7, count=True),
    )
    for i in range(runs):
        same = set(ranked[i].tolist())
        assert same == set(ranked_fts5[i].tolist()) == set(sets[i].tolist()), kind
        assert len(same) == answers[i][1] == pages[i].count, kind
    hits = int(np.mean([len(r) for r in ranked]))
    print(
        f"  {kind}: hits ~{hits:,}\n"
        f"    fts5 {fts5}  fts5 match only {matched}\n"
        f"    memory {memory}  memory, scope pks given {known}  search_images {service}\n"
        f"    memory scores + top 50 only, scope pks given {top_memory}\n"
        f"    tantivy top 50 + count {top}  tantivy every match {everything}\n"
        f"    memory / tantivy {memory['p50'] / top['p50']:.2f}x, scope given "
        f"{known['p50'] / top['p50']:.2f}x, top 50 only {top_memory['p50'] / top['p50']:.2f}x, "
        f"memory / tantivy every match "
        f"{memory['p50'] / everything['p50']:.2f}x, fts5 / tantivy {fts5['p50'] / top['p50']:.0f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000", help="Comma-separated document counts.")
    parser.add_argument("--queries", type=int, default=30, help="Timed queries per figure.")
    parser.add_argument(
        "--dir", type=Path, default=Path("/tmp/pixsearch-bench"), help="Where the databases go."
    )
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    for size in (int(part) for part in args.sizes.split(",")):
        run_size(args.dir, size, args.queries)


if __name__ == "__main__":
    main()
