"""The apply step on both engines: rows and their derived index rows, all or nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from pixsearch.backend import Backend, open_backend
from pixsearch.db.tables import embeddings, image_terms, images, operations
from pixsearch.operations import store
from pixsearch.operations.apply import apply_operation
from pixsearch.search.service import Searcher, SearchParams, search_images
from pixsearch.vocabulary.operations import Applied, Item, Mode, NewItem, Prepared
from pixsearch.vocabulary.text import fold
from tests.operations.test_store import claim

PIXELS = {"width": 4, "height": 2, "aspect_ratio": 2.0, "orientation": "landscape"}


@pytest.fixture
def backend(engine: sa.Engine) -> Iterator[Backend]:
    opened = open_backend(engine)
    yield opened
    opened.close()


def apply(
    engine: sa.Engine,
    backend: Backend,
    mode: Mode,
    bodies: dict[str, dict[str, Any] | None],
    prepared: list[Prepared] | None = None,
    **flags: Any,
) -> Applied:
    """Queue, claim and apply one operation of organisation 1."""
    with engine.begin() as conn:
        op_id = store.enqueue(
            conn,
            backend.dialect,
            org_id=1,
            method="upd",
            mode=mode,
            items=[NewItem(i, i, body) for i, body in bodies.items()],
            **flags,
        )
    claimed = claim(engine)
    assert claimed is not None and claimed.id == op_id
    items = [Item(n, i, i, body) for n, (i, body) in enumerate(bodies.items())]
    prepared = prepared or [Prepared(values=PIXELS) for _ in items]
    with engine.begin() as conn:
        return apply_operation(conn, backend, claimed, "w1", items, prepared)


def terms(engine: sa.Engine) -> set[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(image_terms.c.field, image_terms.c.value_norm))
        return {(field, value) for field, value in rows}


def matches(engine: sa.Engine, backend: Backend, text: str) -> list[int]:
    with engine.connect() as conn:
        return backend.fulltext.rank(conn, 1, text, "en", None).tolist()


def test_an_insert_writes_the_row_and_every_derived_index(
    engine: sa.Engine, backend: Backend
) -> None:
    vector = np.ones(4, dtype=np.float32) / 2
    prepared = [Prepared(values=PIXELS, vectors={"clip": ("tiny", vector)})]
    body = {"src": "http://a/1.jpg", "title": "Red Sunset", "keywords": ["Été"]}
    applied = apply(engine, backend, Mode.ADD, {"a": body}, prepared)
    assert applied.finished and applied.deleted == []
    with engine.connect() as conn:
        row = conn.execute(sa.select(images)).one()
        stored = conn.execute(sa.select(embeddings.c.kind, embeddings.c.model)).all()
    assert (row.image_id, row.title, row.width) == ("a", "Red Sunset", 4)
    assert terms(engine) == {("keywords", "ete")}
    assert matches(engine, backend, "sunset") == [row.id]
    assert stored == [("clip", "tiny")]
    assert [(pk, kind) for pk, kind, _, _ in applied.vectors] == [(row.id, "clip")]


def test_a_patch_rewrites_only_what_it_changes(engine: sa.Engine, backend: Backend) -> None:
    apply(engine, backend, Mode.ADD, {"a": {"src": "http://a/1.jpg", "keywords": ["x"]}})
    assert apply(engine, backend, Mode.PATCH, {"a": {"keywords": ["y", "z"]}}).finished
    assert terms(engine) == {("keywords", "y"), ("keywords", "z")}
    assert matches(engine, backend, "x") == [] and len(matches(engine, backend, "z")) == 1
    with engine.connect() as conn:
        assert conn.execute(sa.select(images.c.width)).scalar_one() == 4  # pixels kept


def test_a_delete_removes_the_row_and_its_index_rows(engine: sa.Engine, backend: Backend) -> None:
    apply(
        engine,
        backend,
        Mode.ADD,
        {"a": {"src": "http://a/1.jpg", "title": "gone", "keywords": ["x"]}},
    )
    applied = apply(engine, backend, Mode.DEL, {"a": None})
    assert len(applied.deleted) == 1
    assert terms(engine) == set() and matches(engine, backend, "gone") == []
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(images)).scalar() == 0


@pytest.mark.parametrize("subset", [False, True])
def test_a_failed_item_writes_nothing_unless_subset(
    engine: sa.Engine, backend: Backend, subset: bool
) -> None:
    apply(engine, backend, Mode.ADD, {"a": {"src": "http://a/1.jpg"}})
    bodies: dict[str, dict[str, Any] | None] = {
        "a": {"src": "http://a/1.jpg"},  # exists: fails in strict mode
        "b": {"src": "http://a/2.jpg"},
    }
    apply(engine, backend, Mode.ADD, bodies, strict=True, subset=subset)
    with engine.connect() as conn:
        ids = set(conn.execute(sa.select(images.c.image_id)).scalars())
        last = conn.execute(sa.select(operations).order_by(operations.c.id.desc())).first()
    assert last is not None and last.num_bad == 1 and last.state == "finished"
    assert ids == ({"a", "b"} if subset else {"a"})
    assert last.num_good == (1 if subset else 0)


def test_an_item_whose_pixels_were_not_analysed_fails(engine: sa.Engine, backend: Backend) -> None:
    apply(engine, backend, Mode.ADD, {"a": {"src": "http://a/1.jpg"}}, [Prepared()])
    with engine.connect() as conn:
        errors = conn.execute(sa.select(operations.c.errors)).scalar_one()
        assert conn.execute(sa.select(sa.func.count()).select_from(images)).scalar() == 0
    assert errors == [{"id": "a", "msg": "image was not analysed"}]


def test_writes_keep_the_word_rows_facets_in_step_on_postgres(
    engine: sa.Engine, backend: Backend
) -> None:
    """The facets that PostgreSQL's full text counts from its word rows follow inserts,
    patches of labels, lists and text, and deletes, as apply makes them."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's word rows")
    src = {"src": "http://a/1.jpg"}
    bodies = {
        "a": {**src, "title": "red car", "country": "France", "keywords": ["Café", "x"]},
        "b": {**src, "title": "red bus", "country": "Norway", "keywords": ["cafe"]},
        "c": {**src, "title": "red", "city": "Paris"},
    }
    apply(engine, backend, Mode.ADD, bodies)
    apply(engine, backend, Mode.PATCH, {"a": {"country": "Brazil", "keywords": ["CAFÉ", "café"]}})
    apply(engine, backend, Mode.PATCH, {"b": {"title": "red van"}})
    apply(engine, backend, Mode.DEL, {"c": None})
    names = ("keywords", "country", "city")
    params = SearchParams(q="t~red", facets=names)
    with engine.connect() as conn:
        _, facets = backend.fulltext.rank_with_facets(conn, 1, "red", "en", None, names, 20)
        in_sql = search_images(conn, Searcher(backend), 1, params).facets
    assert facets == in_sql
    counts = {name: [(f["value"], f["count"]) for f in found] for name, found in facets.items()}
    assert counts == {
        "keywords": [(facets["keywords"][0]["value"], 2)],  # two spellings in one image: once
        "country": [("Brazil", 1), ("Norway", 1)],
        "city": [],
    }
    assert fold(facets["keywords"][0]["value"]) == "cafe"


def test_facets_too_many_for_a_word_row_count_from_the_image_on_postgres(
    engine: sa.Engine, backend: Backend
) -> None:
    """An image whose facet codes and word do not fit in one index entry (700 keywords; a
    2,000-letter word) has no codes in that word row, and still counts, exactly."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's word rows")
    long_word = "w" * 2000
    many = [f"k{i:03d}" for i in range(700)]
    bodies = {
        "a": {"src": "http://a/1.jpg", "title": "red", "country": "France", "keywords": many},
        "b": {
            "src": "http://a/2.jpg",
            "title": "red",
            "caption": long_word,
            "keywords": many[:200],
        },
        "c": {"src": "http://a/3.jpg", "title": "red", "country": "Norway", "keywords": ["k000"]},
    }
    apply(engine, backend, Mode.ADD, bodies)
    names = ("keywords", "country")
    with engine.connect() as conn:
        empty = conn.exec_driver_sql(
            "SELECT count(*) FROM images_fts_words WHERE facets IS NULL"
        ).scalar_one()
        for text in ("red", long_word, f"red {long_word}"):
            _, facets = backend.fulltext.rank_with_facets(conn, 1, text, "en", None, names, 5)
            params = SearchParams(q=f't~"{text}"', facets=names, facet_limit=5)
            assert facets == search_images(conn, Searcher(backend), 1, params).facets
            if text == "red":
                top = [(f["value"], f["count"]) for f in facets["keywords"]]
                assert top == [("k000", 3), *((f"k{i:03d}", 2) for i in range(1, 5))]
    assert empty > 700  # every word row of "a" (k000 ... k699, red, france) and b's long word
