"""The column index (SQLite): counts, page order, every facet and the rendered rows (its
documents) equal the SQL path on random data and random formulas, after writes, patches,
deletes and compaction, after a restart, for two organisations, and when an operation
commits while a search loads the slot."""

from __future__ import annotations

import dataclasses
import datetime
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pixsearch.backend import Backend, open_backend
from pixsearch.db.engine import writer
from pixsearch.db.tables import images
from pixsearch.errors import QuerySyntaxError
from pixsearch.images.service import read_page
from pixsearch.index import columns as columns_module
from pixsearch.index.columns import ColumnIndex
from pixsearch.index.terms import replace_terms
from pixsearch.search import nodes
from pixsearch.search.columnar import read_results
from pixsearch.search.compiler import compile_filter
from pixsearch.search.parser import parse_formula
from pixsearch.search.service import (
    Page,
    ScopePks,
    Searcher,
    SearchParams,
    search_columns,
    search_images,
    search_metadata,
)
from pixsearch.vocabulary.fields import RESULT_FIELDS
from pixsearch.vocabulary.operations import Applied
from tests.conftest import open_database
from tests.search.conftest import add_images

LABELS = ["Paris", "paris", "PARIS", "Pâris", "Zürich", "zurich", "New York", "b", "B", "", None]
DATES = ["2015-01-01", "2014-12-31", "2020-06-15", "2019-1-15", None]
WIDTHS = [64, 100, 1920, None]
RATIOS = [0.5, 1.0, 1.5, 4 / 3, None]
BOOLS = [True, False, None]
ORIENTATIONS = ["landscape", "portrait", "square", None]
KEYWORDS = ["Red", "red", "Rëd", "blue", "Blue Sky", "sky", "sel"]
TAGS = ["cat", "Cat", "dog"]
TITLES = ["red sky", "Paris at night", "a dog", None]
# Values of the other kinds a result row shows: text with escapes, floats, lists of objects.
CAPTIONS = ['Zürich "by night"\n\u00a0\u2028', "", "\x01 tab\t", None]
COLORS = [
    [{"hex": "#ff0000", "share": 0.30000000000000004}, {"hex": "#00ff00", "share": 1e-7}],
    [],
    None,
]
SOURCES = ["https://example.com/a.jpg?x=1&y=%C3%A9", None]
# Fields a search may ask for: result fields (rendered from the documents), and `faces`,
# which is not one (read from SQL), with duplicates.
FIELD_CHOICES = [
    "image_id",
    "title",
    "caption",
    "keywords",
    "colors",
    "nsfw",
    "aspect_ratio",
    "faces",
]


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    """A SQLite file with organisations 1 and 2 (the columns live only on SQLite)."""
    engine = open_database(f"sqlite:///{tmp_path / 'columns.db'}")
    yield engine
    engine.dispose()


def random_row(rng: random.Random, image_id: str) -> dict[str, Any]:
    return {
        "image_id": image_id,
        "title": rng.choice(TITLES),
        "city": rng.choice(LABELS),
        "country": rng.choice(LABELS),
        "date": rng.choice(DATES),
        "width": rng.choice(WIDTHS),
        "aspect_ratio": rng.choice(RATIOS),
        "nsfw": rng.choice(BOOLS),
        "orientation": rng.choice(ORIENTATIONS),
        "n_faces": rng.choice([0, 1, 2, None]),
        "keywords": rng.sample(KEYWORDS, rng.randint(0, 3)),
        "tags": rng.sample(TAGS, rng.randint(0, 2)),
        "caption": rng.choice(CAPTIONS),
        "colors": rng.choice(COLORS),
        "src": rng.choice(SOURCES),
        "model_release": rng.choice(BOOLS),
        "categories": rng.choice([None, [], ["News", "news"]]),
        "faces": rng.choice([None, [{"n": 1, "box": [1, 2, 3, 4], "score": 0.9}]]),
        "created_at": rng.randint(0, 30),  # repeats: ties are broken by pk
    }


def fill(engine: sa.Engine, count: int, seed: int, org_id: int = 1) -> list[int]:
    rng = random.Random(seed)
    return add_images(engine, org_id, [random_row(rng, f"img{i}") for i in range(count)])


# --- Random formulas -------------------------------------------------------------------------

text_leaf = st.builds(
    nodes.TextFieldFilter,
    field=st.sampled_from(["city", "country", "title"]),
    op=st.sampled_from(["fold", "case", "exact", "prefix", "<", ">", "<=", ">="]),
    value=st.sampled_from([v for v in LABELS if v] + ["par", "new", "zu", "sky"]),
)
date_leaf = st.builds(
    nodes.DateFilter,
    op=st.sampled_from(["=", "<", ">", "<=", ">="]),
    date=st.sampled_from(
        [datetime.date(2015, 1, 1), datetime.date(2019, 1, 15), datetime.date(2020, 6, 15)]
    ),
)
number_leaf = st.one_of(
    st.builds(
        nodes.NumberFilter,
        field=st.just("width"),
        op=st.sampled_from(["=", "<", ">", "<=", ">="]),
        values=st.sampled_from([64, 100, 1920, 500]).map(lambda v: (v,)),
    ),
    st.builds(
        nodes.NumberFilter,
        field=st.just("width"),
        op=st.just("any"),
        values=st.lists(st.sampled_from([64, 100, 1920, 500]), min_size=1, max_size=2).map(tuple),
    ),
    st.builds(
        nodes.NumberFilter,
        field=st.just("aspect_ratio"),
        op=st.sampled_from(["=", "<", ">="]),
        values=st.sampled_from([(1.0,), (1.5,), (4 / 3,)]),
    ),
)
leaf = st.one_of(
    text_leaf,
    date_leaf,
    number_leaf,
    st.builds(nodes.BoolFilter, field=st.just("nsfw"), value=st.booleans()),
    st.builds(nodes.OrientationFilter, value=st.sampled_from(["landscape", "portrait", "square"])),
    st.builds(
        nodes.SetFilter,
        field=st.sampled_from(["keywords", "tags"]),
        op=st.sampled_from(["all", "any", "prefix"]),
        values=st.lists(st.sampled_from(KEYWORDS + TAGS + ["none"]), min_size=1, max_size=2).map(
            tuple
        ),
    ),
    # Not in the columns: answered by SQL and turned into a mask.
    st.builds(nodes.IdFilter, op=st.sampled_from(["<", ">="]), values=st.just(("img15",))),
)
formulas = st.recursive(
    leaf,
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda c: nodes.And(tuple(c))),
        st.lists(children, min_size=1, max_size=3).map(lambda c: nodes.Or(tuple(c))),
        children.map(nodes.Not),
    ),
    max_leaves=5,
)
params = st.builds(
    SearchParams,
    page=st.integers(1, 3),
    limit=st.integers(1, 7),
    sort_by=st.sampled_from(
        ["", "date", "city", "country", "width", "aspect_ratio", "nsfw", "orientation", "n_faces"]
    ),
    sort_order=st.sampled_from([None, "asc", "desc"]),
    facets=st.lists(
        st.sampled_from(["city", "country", "keywords", "tags", "nsfw", "orientation"]),
        max_size=3,
    ).map(tuple),
    facet_limit=st.integers(1, 6),
    fields=st.one_of(
        st.none(), st.lists(st.sampled_from(FIELD_CHOICES), min_size=1, max_size=4).map(tuple)
    ),
)


def both_ways(
    conn: sa.Connection, backend: Backend, org_id: int, formula: nodes.Node | None, p: SearchParams
) -> tuple[Page, Page]:
    """The page from the columns and the page from SQL (the oracle)."""
    assert backend.columns is not None
    condition = compile_filter(formula, org_id) if formula is not None else None
    expected = search_metadata(conn, backend.dialect, org_id, p, condition)
    return search_columns(conn, backend, org_id, p, formula), expected


def assert_same(conn: sa.Connection, backend: Backend, org_id: int, formula: Any, p: Any) -> None:
    got, expected = both_ways(conn, backend, org_id, formula, p)
    assert got.count == expected.count, formula
    assert [r.get("image_id") for r in got.results] == [r.get("image_id") for r in expected.results]
    assert got.results == expected.results
    assert got.facets == expected.facets, formula


@pytest.fixture
def backend(engine: sa.Engine) -> Iterator[Backend]:
    backend = open_backend(engine)
    yield backend
    backend.close()


QUICK = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@QUICK
@given(formula=st.one_of(st.none(), formulas), p=params, org_id=st.sampled_from([1, 2]))
def test_equals_sql_on_random_formulas_for_two_organisations(
    engine: sa.Engine, backend: Backend, formula: Any, p: SearchParams, org_id: int
) -> None:
    if not getattr(engine, "_filled", False):
        fill(engine, 60, seed=1, org_id=1)
        fill(engine, 25, seed=2, org_id=2)  # the same ids in another organisation
        engine._filled = True  # type: ignore[attr-defined]
    with engine.connect() as conn:
        backend.dialect.prepare_search(conn)
        assert_same(conn, backend, org_id, formula, p)


@QUICK
@given(formula=formulas, org_id=st.sampled_from([1, 2]))
def test_scope_pks_from_memory_equal_sql(
    engine: sa.Engine, backend: Backend, formula: Any, org_id: int
) -> None:
    if not getattr(engine, "_filled", False):
        fill(engine, 40, seed=3, org_id=1)
        fill(engine, 20, seed=4, org_id=2)
        engine._filled = True  # type: ignore[attr-defined]
    with engine.connect() as conn:
        backend.dialect.prepare_search(conn)
        memory = ScopePks(conn, backend.dialect, org_id, (formula,), backend.columns)()
        sql = ScopePks(conn, backend.dialect, org_id, (formula,))()
        assert memory.dtype == np.int64
        assert memory.tolist() == sorted(set(sql.tolist()))


def edit_rows(engine: sa.Engine, rng: random.Random, org_id: int, round_: int) -> Applied:
    """Patch, replace, delete and insert a few rows as apply does, and say so."""
    with engine.connect() as conn:
        pks = conn.execute(sa.select(images.c.id).where(images.c.org_id == org_id)).scalars().all()
    chosen = rng.sample(list(pks), min(len(pks), 8))
    patched, deleted = chosen[:5], chosen[5:]
    with writer(engine).begin() as conn:
        for pk in patched:
            row = random_row(rng, "")
            del row["image_id"]
            names = rng.sample(sorted(row), 3)
            conn.execute(
                sa.update(images).where(images.c.id == pk).values({n: row[n] for n in names})
            )
            current = conn.execute(sa.select(images).where(images.c.id == pk)).one()._mapping
            replace_terms(conn, org_id, [(pk, dict(current))])
        conn.execute(sa.delete(images).where(images.c.id.in_(deleted)))
    new = [random_row(rng, f"new{round_}-{rng.getrandbits(48)}") for _ in range(3)]
    inserted = add_images(engine, org_id, new)
    return Applied(org_id, deleted=list(deleted), changed=[*patched, *inserted])


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_follows_writes_patches_deletes_and_compaction(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(columns_module, "COMPACT_MIN_DEAD", 0)  # compact as often as it can
    engine = open_database(f"sqlite:///{tmp_path_factory.mktemp('writes') / 'columns.db'}")
    fill(engine, 40, seed=5, org_id=1)
    fill(engine, 15, seed=6, org_id=2)
    backend = open_backend(engine)
    rng = random.Random(data.draw(st.integers(0, 10**6)))
    try:
        for round_ in range(4):
            with engine.connect() as conn:
                backend.dialect.prepare_search(conn)
                for _ in range(8):
                    org_id = data.draw(st.sampled_from([1, 2]))
                    assert_same(conn, backend, org_id, data.draw(formulas), data.draw(params))
            assert backend.columns is not None
            for org_id in (1, 2):
                backend.columns.follow(edit_rows(engine, rng, org_id, round_))
    finally:
        backend.close()
        engine.dispose()


def test_a_restart_loads_what_the_database_holds(engine: sa.Engine) -> None:
    fill(engine, 30, seed=7)
    first = open_backend(engine)
    everything = SearchParams(limit=100, facets=("keywords", "city"))
    with engine.connect() as conn:
        assert_same(conn, first, 1, None, everything)
    # Written while no index follows (another process, or before a crash): a new process
    # loads it, since nothing of the index outlives its process.
    edit_rows(engine, random.Random(8), 1, 0)
    first.close()
    second = open_backend(engine)
    with engine.connect() as conn:
        second.dialect.prepare_search(conn)
        assert_same(conn, second, 1, None, everything)
        assert_same(conn, second, 1, nodes.SetFilter("keywords", "any", ("red",)), everything)
    second.close()


def test_an_operation_committed_while_the_slot_loads_is_applied(engine: sa.Engine) -> None:
    """The load reads in one snapshot; a commit after it is queued and applied after."""
    (pk,) = add_images(engine, 1, [{"image_id": "a", "city": "Paris", "keywords": ["red"]}])
    index = ColumnIndex(engine)
    done: list[bool] = []

    def commit_during_load(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM image_terms" in statement and "ORDER BY" in statement and not done:
            done.append(True)  # the rows query has started: the load's snapshot is taken
            with writer(engine).begin() as other:
                other.execute(sa.update(images).where(images.c.id == pk).values(city="Lyon"))
                replace_terms(other, 1, [(pk, {"keywords": ["blue"]})])
            index.follow(Applied(1, changed=[pk]))

    sa.event.listen(engine, "before_cursor_execute", commit_during_load)
    try:
        with index.reading(1) as slot:
            assert done
            assert slot.scalar_facet("city", slot.of_mask(slot.alive()), 10, True) == [("Lyon", 1)]
            assert slot.term_facet("keywords", slot.of_mask(slot.alive()), 10) == [("blue", 1)]
    finally:
        sa.event.remove(engine, "before_cursor_execute", commit_during_load)
        index.close()


def test_facets_show_the_smallest_spelling_among_the_hits(engine: sa.Engine) -> None:
    add_images(
        engine,
        1,
        [
            {"image_id": "a", "keywords": ["Red"], "city": "x"},
            {"image_id": "b", "keywords": ["red"], "city": "y"},
            {"image_id": "c", "keywords": ["Rëd", "red"], "city": "y"},
        ],
    )
    backend = open_backend(engine)
    facets = SearchParams(facets=("keywords",))
    with engine.connect() as conn:
        backend.dialect.prepare_search(conn)
        for formula in (None, nodes.TextFieldFilter("city", "fold", "y")):
            assert_same(conn, backend, 1, formula, facets)
        page, _ = both_ways(conn, backend, 1, nodes.TextFieldFilter("city", "fold", "y"), facets)
        assert page.facets["keywords"] == [{"value": "Rëd", "count": 2}]
    backend.close()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(formula=formulas, p=params, org_id=st.sampled_from([1, 2]))
def test_ranked_hits_sorted_and_faceted_from_memory_equal_sql(
    engine: sa.Engine, backend: Backend, formula: Any, p: SearchParams, org_id: int
) -> None:
    """`t~` with metadata filters: the scope's pks, a field sort and the facets of the
    scored hits come from the columns; the answer is the SQL path's."""
    if not getattr(engine, "_filled", False):
        fill(engine, 50, seed=9, org_id=1)
        fill(engine, 20, seed=10, org_id=2)
        engine._filled = True  # type: ignore[attr-defined]
    sql_only = dataclasses.replace(backend, columns=None)
    q = f"t~red && ({formula.to_formula()})" if formula is not None else "t~red"
    try:
        parse_formula(q)
    except QuerySyntaxError:
        assume(False)  # a node the parser never makes (several prefixes)
    ranked = dataclasses.replace(p, q=q, sort_by=p.sort_by or "sim")
    with engine.connect() as conn:
        got = search_images(conn, Searcher(backend), org_id, ranked)
        expected = search_images(conn, Searcher(sql_only), org_id, ranked)
    assert got.count == expected.count
    assert got.results == expected.results
    assert got.facets == expected.facets


def test_without_results_in_memory_pages_are_read_from_sql(engine: sa.Engine) -> None:
    fill(engine, 30, seed=11)
    backend = open_backend(engine, results_in_memory=False)
    everything = SearchParams(limit=100, facets=("keywords",))
    try:
        with engine.connect() as conn:
            backend.dialect.prepare_search(conn)
            assert_same(conn, backend, 1, None, everything)
            ranked = search_images(conn, Searcher(backend), 1, SearchParams(q="t~red", limit=100))
            sql_only = dataclasses.replace(backend, columns=None)
            assert (
                ranked.results
                == search_images(
                    conn, Searcher(sql_only), 1, SearchParams(q="t~red", limit=100)
                ).results
            )
        assert backend.columns is not None
        with backend.columns.reading(1) as slot:
            assert slot.size == 30
            assert slot.documents == [] and slot.document_bytes == 0
    finally:
        backend.close()


def test_a_pk_the_slot_does_not_hold_is_read_from_sql(engine: sa.Engine) -> None:
    """Rows of another organisation, or deleted and applied, are not shown; a row the slot
    does not hold yet is read from the database."""
    mine = fill(engine, 5, seed=12, org_id=1)
    theirs = fill(engine, 2, seed=13, org_id=2)
    backend = open_backend(engine)
    assert backend.columns is not None
    try:
        with engine.connect() as conn:
            found = read_results(conn, backend.columns, 1, [*mine, *theirs], RESULT_FIELDS)
            assert sorted(found) == mine
            assert found == read_page(conn, 1, mine, RESULT_FIELDS)
        with writer(engine).begin() as conn:
            conn.execute(sa.delete(images).where(images.c.id == mine[0]))
        backend.columns.follow(Applied(1, deleted=[mine[0]]))
        # Written while the index was not told (as between a commit and its `follow`).
        (late,) = add_images(engine, 1, [{"image_id": "late", "title": "late"}])
        with engine.connect() as conn:
            found = read_results(conn, backend.columns, 1, [*mine, late], ("image_id", "title"))
        assert sorted(found) == [*mine[1:], late]
        assert found[late] == {"image_id": "late", "title": "late"}
    finally:
        backend.close()
