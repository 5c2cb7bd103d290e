"""Counts and facets equal a brute-force count over the rows, on random data and random
formulas, on both engines, for each organisation (which never sees the other's images).

The rows are written by apply's own index writers (`add_images`); the oracle reads the
Python rows it wrote, folding with `vocabulary.text.fold`. Spellings are chosen so that
folding matters (`Café`, `cafe`, `CAFE` are one keyword; `São Paulo` and `sao paulo` one
city under `city=`), and some images carry two spellings of one keyword, which must count
once. On PostgreSQL, the plans of folded equality and of the date order use their indexes.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from pixsearch.backend import open_backend
from pixsearch.db.tables import images
from pixsearch.search.compiler import compile_filter
from pixsearch.search.parser import parse_formula
from pixsearch.search.service import (
    Searcher,
    SearchParams,
    scoped,
    search_images,
    sort_columns,
)
from pixsearch.vocabulary.text import fold, folded_words
from tests.search.conftest import add_images

KEYWORDS = ("Café", "cafe", "CAFE", "tower", "Tower", "beach", "snow", "night", "dog", "sea")
CITIES = ("São Paulo", "sao paulo", "Paris", "PARIS", "Lisboa", None)
COUNTRIES = ("Portugal", "portugal", "France", "Brazil", "Norway", None)
WORDS = ("red", "blue", "tower", "beach", "sunset", "dog")
DATES = ("2015-01-01", "2018-06-30", "2020-12-24", "2024-07-20", None)
FACETS = ("keywords", "country", "city")

Row = dict[str, Any]


def random_rows(rng: random.Random, count: int) -> list[Row]:
    rows = []
    for _ in range(count):
        keywords = rng.sample(KEYWORDS, rng.randint(0, 3))
        if rng.random() < 0.1:
            keywords += ["CAFÉ", "café"]  # two spellings of one value in one image
        rows.append(
            {
                "title": " ".join(rng.choices(WORDS, k=rng.randint(0, 3))),
                "keywords": keywords,
                "city": rng.choice(CITIES),
                "country": rng.choice(COUNTRIES),
                "date": rng.choice(DATES),
            }
        )
    return rows


@pytest.fixture(scope="module")
def catalogue(module_engine: sa.Engine) -> Iterator[tuple[sa.Engine, dict[int, list[Row]]]]:
    """Two organisations with different random rows (org 2 has fewer)."""
    rng = random.Random(15)
    rows = {1: random_rows(rng, 160), 2: random_rows(rng, 60)}
    for org_id, org_rows in rows.items():
        add_images(
            module_engine,
            org_id,
            [{"image_id": f"o{org_id}-{i}", **row} for i, row in enumerate(org_rows)],
        )
    with module_engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    yield module_engine, rows


# --- The oracle -------------------------------------------------------------------------------


def text_words(row: Row) -> set[str]:
    """The words full text indexes: title, keywords, labels."""
    parts = [row["title"], " ".join(row["keywords"]), row["city"] or "", row["country"] or ""]
    return {word for part in parts for word in folded_words(part)}


Atom = tuple[str, Callable[[Row], bool]]


def atoms() -> st.SearchStrategy[Atom]:
    keyword = st.sampled_from(KEYWORDS).map(
        lambda k: (f"k={k}", lambda row, k=k: fold(k) in {fold(v) for v in row["keywords"]})
    )
    city = st.sampled_from([c for c in CITIES if c]).map(
        lambda c: (
            f"city={c.upper()}",
            lambda row, c=c: row["city"] is not None and fold(row["city"]) == fold(c),
        )
    )
    country = st.sampled_from([c for c in COUNTRIES if c]).map(
        lambda c: (
            f"country={c}",
            lambda row, c=c: row["country"] is not None and fold(row["country"]) == fold(c),
        )
    )
    date = st.sampled_from([d for d in DATES if d]).map(
        lambda d: (f"d>={d}", lambda row, d=d: row["date"] is not None and row["date"] >= d)
    )
    return st.one_of(keyword, city, country, date)


def negated(atom: Atom) -> Atom:
    text, test = atom
    return f"!{text}", lambda row: not test(row)


def either(first: Atom, second: Atom) -> Atom:
    return f"({first[0]} || {second[0]})", lambda row: first[1](row) or second[1](row)


def text_atom() -> st.SearchStrategy[Atom]:
    return st.sampled_from(WORDS).map(lambda w: (f"t~{w}", lambda row, w=w: w in text_words(row)))


@st.composite
def formulas(draw: st.DrawFn) -> Atom:
    """Up to three clauses joined by &&: an atom, a negated atom or two atoms joined by ||;
    with a `t~` clause in half the formulas (ranked hits: the facets of a pk set)."""
    clause = st.one_of(
        atoms(), atoms().map(negated), st.tuples(atoms(), atoms()).map(lambda p: either(*p))
    )
    clauses = draw(st.lists(clause, min_size=1, max_size=3))
    if draw(st.booleans()):
        clauses.insert(draw(st.integers(0, len(clauses))), draw(text_atom()))
    text = " && ".join(c[0] for c in clauses)
    return text, lambda row: all(c[1](row) for c in clauses)


def expected_facets(hits: list[Row]) -> dict[str, Counter[str]]:
    """Images per folded keyword, per exact country and city."""
    keywords: Counter[str] = Counter()
    for row in hits:
        keywords.update({fold(value) for value in row["keywords"]})
    return {
        "keywords": keywords,
        "country": Counter(row["country"] for row in hits if row["country"] is not None),
        "city": Counter(row["city"] for row in hits if row["city"] is not None),
    }


def check_facet(
    name: str, got: list[dict[str, Any]], expected: Counter[str], hits: list[Row]
) -> None:
    """Every value with its exact count; most frequent first, then alphabetically."""
    if name == "keywords":
        spellings = {fold(v): set() for row in hits for v in row["keywords"]}
        for row in hits:
            for value in row["keywords"]:
                spellings[fold(value)].add(value)
        for entry in got:  # one of the hits' own spellings stands for the folded value
            assert entry["value"] in spellings[fold(entry["value"])]
        counted = {fold(entry["value"]): entry["count"] for entry in got}
        keys = [(-entry["count"], fold(entry["value"])) for entry in got]
    else:
        counted = {entry["value"]: entry["count"] for entry in got}
        keys = [(-entry["count"], entry["value"].lower()) for entry in got]
    assert len(counted) == len(got), got
    assert counted == dict(expected), name
    assert keys == sorted(keys), name


# --- The tests --------------------------------------------------------------------------------


@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(formula=formulas(), org_id=st.sampled_from([1, 2]))
def test_counts_and_facets_equal_brute_force(
    catalogue: tuple[sa.Engine, dict[int, list[Row]]], formula: Atom, org_id: int
) -> None:
    engine, rows = catalogue
    text, matches = formula
    hits = [row for row in rows[org_id] if matches(row)]
    backend = open_backend(engine)
    params = SearchParams(q=text, limit=5, facets=FACETS, facet_limit=100)
    with engine.connect() as conn:
        page = search_images(conn, Searcher(backend), org_id, params)
    backend.close()
    assert page.count == len(hits), text
    expected = expected_facets(hits)
    for name in FACETS:
        check_facet(name, page.facets[name], expected[name], hits)


def test_facet_limit_keeps_the_most_frequent(
    catalogue: tuple[sa.Engine, dict[int, list[Row]]],
) -> None:
    engine, _ = catalogue
    backend = open_backend(engine)
    with engine.connect() as conn:
        for q in ("", "k=cafe", "t~tower || t~beach", "t~red"):
            top, full = (
                search_images(
                    conn, Searcher(backend), 1, SearchParams(q=q, facets=FACETS, facet_limit=limit)
                ).facets
                for limit in (3, 100)
            )
            assert all(top[name] == full[name][:3] for name in FACETS), q
    backend.close()


def explain(conn: sa.Connection, statement: sa.Select[Any]) -> str:
    compiled = statement.compile(conn, compile_kwargs={"literal_binds": True})
    return "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {compiled}"))


@pytest.mark.parametrize("field", ["city", "country", "author"])
def test_folded_equality_reads_an_index_on_postgres(
    catalogue: tuple[sa.Engine, dict[int, list[Row]]], field: str
) -> None:
    engine, _ = catalogue
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's plans")
    formula = parse_formula(f"{field}=SAO PAULO")
    assert formula is not None
    statement = (
        sa.select(sa.func.count()).select_from(images).where(scoped(1, compile_filter(formula, 1)))
    )
    with engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")
        plan = explain(conn, statement)
    assert f"ix_images_fold_{field}" in plan, plan


@pytest.mark.parametrize(
    ("sort_by", "descending", "index"),
    [
        ("date", False, "ix_images_org_date"),
        ("date", True, "ix_images_org_date_desc"),
        ("created_at", True, "ix_images_org_created"),
    ],
)
def test_sorted_pages_walk_an_index_on_postgres(
    catalogue: tuple[sa.Engine, dict[int, list[Row]]], sort_by: str, descending: bool, index: str
) -> None:
    """The page of a filter sorted by a field, in search's own order (missing last),
    walks an index and stops."""
    engine, _ = catalogue
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's plans")
    formula = parse_formula("d>=2018-01-01")
    assert formula is not None
    backend = open_backend(engine)
    statement = (
        sa.select(images.c.id)
        .where(scoped(1, compile_filter(formula, 1)))
        .order_by(*sort_columns(backend.dialect, sort_by, descending))
        .limit(10)
    )
    backend.close()
    with engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")
        conn.exec_driver_sql("SET enable_sort = off")
        plan = explain(conn, statement)
    # No sort of every hit: an incremental sort (of the pk ties within one created_at)
    # stops with the page.
    full_sorts = re.findall(r"^\s*(?:->\s+)?Sort\s+\(", plan, re.MULTILINE)
    assert index in plan and not full_sorts, plan


@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=2),
    scope=st.none() | atoms(),
    org_id=st.sampled_from([1, 2]),
    limit=st.sampled_from([2, 100]),
)
def test_full_text_facets_from_word_rows_on_postgres(
    catalogue: tuple[sa.Engine, dict[int, list[Row]]],
    words: list[str],
    scope: Atom | None,
    org_id: int,
    limit: int,
) -> None:
    """`PostgresFullText.rank_with_facets` counts the facets of its hits from its word rows
    alone: the brute-force count, and the same answer as search's SQL facets."""
    engine, rows = catalogue
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's word rows")
    text = " ".join(words)
    hits = [
        row
        for row in rows[org_id]
        if set(words) & text_words(row) and (scope is None or scope[1](row))
    ]
    formula = f't~"{text}"' + (f" && {scope[0]}" if scope else "")
    condition = None
    if scope is not None:
        parsed = parse_formula(scope[0])
        assert parsed is not None
        condition = compile_filter(parsed, org_id)
    backend = open_backend(engine)
    params = SearchParams(q=formula, facets=FACETS, facet_limit=limit)
    with engine.connect() as conn:
        ranked, facets = backend.fulltext.rank_with_facets(
            conn, org_id, text, "en", condition, FACETS, limit
        )
        page = search_images(conn, Searcher(backend), org_id, params)
        alone = backend.fulltext.rank(conn, org_id, text, "en", condition)
    backend.close()
    assert ranked.tolist() == alone.tolist()
    assert len(ranked) == len(hits), formula
    assert facets == page.facets, formula
    if limit == 100:
        expected = expected_facets(hits)
        for name in FACETS:
            check_facet(name, facets[name], expected[name], hits)
