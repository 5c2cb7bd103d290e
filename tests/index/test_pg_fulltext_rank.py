"""PostgreSQL full-text ranking from `images_fts_words` equals a brute-force ranking of the
rows written, and ts_rank_cd's order (in thirds), on random rows and queries, per
organisation, with and without a scope, after replacing and deleting rows.

The oracle scores each image from the Python rows: per query word (folded), the sum over
its occurrences of its column's weight (title 3, headline and keywords 2, the rest 1);
best first, ties by pk, images without a query word left out.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from pixsearch.backend import open_backend
from pixsearch.db.engine import writer
from pixsearch.db.tables import images
from pixsearch.index.fulltext import PostgresFullText, fts, lexemes, query_terms
from pixsearch.vocabulary.fields import WRITABLE_FIELDS
from pixsearch.vocabulary.text import fold, folded_words
from tests.search.conftest import add_images

WORDS = ("red", "Café", "cafe", "tower", "beach", "sunset", "dog", "sea", "blue")
ABSENT = ("zebra",)
CITIES = ("Paris", "Lisboa", None)
# Column weights of the oracle: (field, weight); keywords are a list.
COLUMNS = (("title", 3), ("headline", 2), ("caption", 1), ("keywords", 2), ("city", 1))

Row = dict[str, Any]


def random_row(rng: random.Random) -> Row:
    def text() -> str:
        return " ".join(rng.choices(WORDS, k=rng.randint(0, 4)))

    return {
        "title": text(),
        "headline": text(),
        "caption": text(),
        "keywords": rng.sample(WORDS, rng.randint(0, 3)),
        "city": rng.choice(CITIES),
    }


def oracle(rows: dict[int, Row], text: str) -> list[int]:
    wanted = {fold(word) for word in text.split()}
    scores = {}
    for pk, row in rows.items():
        score = 0
        for field, weight in COLUMNS:
            value = row.get(field) or ""
            words = folded_words(" ".join(value) if isinstance(value, list) else value)
            score += weight * sum(word in wanted for word in words)
        if score:
            scores[pk] = score
    return sorted(scores, key=lambda pk: (-scores[pk], pk))


def reference(conn: sa.Connection, org_id: int, text: str) -> list[int]:
    """ts_rank_cd's order in thirds, from the tsvectors (`PostgresFullText.ranked`)."""
    statement = PostgresFullText(conn.engine).ranked(query_terms(text, "en"))
    return [row.rowid for row in conn.execute(statement.where(fts.c.org_id == org_id))]


@pytest.fixture(scope="module")
def catalogue(module_engine: sa.Engine) -> Iterator[tuple[sa.Engine, dict[int, dict[int, Row]]]]:
    if module_engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's ranking")
    rng = random.Random(10)
    rows: dict[int, dict[int, Row]] = {}
    for org_id, count in ((1, 150), (2, 50)):
        written = [random_row(rng) for _ in range(count)]
        pks = add_images(
            module_engine,
            org_id,
            [{"image_id": f"o{org_id}-{i}", **row} for i, row in enumerate(written)],
        )
        rows[org_id] = dict(zip(pks, written, strict=True))
    yield module_engine, rows


queries = st.lists(st.sampled_from(WORDS + ABSENT), min_size=1, max_size=3).map(" ".join)


@hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=queries, org_id=st.sampled_from([1, 2]))
def test_rank_equals_brute_force_and_ts_rank_cd(
    catalogue: tuple[sa.Engine, dict[int, dict[int, Row]]], text: str, org_id: int
) -> None:
    engine, rows = catalogue
    backend = open_backend(engine)
    with engine.connect() as conn:
        ranked = backend.fulltext.rank(conn, org_id, text, "en", None).tolist()
        expected = reference(conn, org_id, text)
    backend.close()
    assert ranked == oracle(rows[org_id], text), text
    assert ranked == expected, text


@hypothesis_settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=queries, city=st.sampled_from(["Paris", "Lisboa"]))
def test_rank_within_a_scope(
    catalogue: tuple[sa.Engine, dict[int, dict[int, Row]]], text: str, city: str
) -> None:
    engine, rows = catalogue
    backend = open_backend(engine)
    with engine.connect() as conn:
        ranked = backend.fulltext.rank(conn, 1, text, "en", images.c.city == city).tolist()
    backend.close()
    in_scope = {pk: row for pk, row in rows[1].items() if row["city"] == city}
    assert ranked == oracle(in_scope, text), text


def test_rank_follows_replaced_and_deleted_rows(engine: sa.Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's ranking")
    rng = random.Random(3)
    written = [random_row(rng) for _ in range(60)]
    pks = add_images(engine, 1, [{"image_id": f"i{i}", **row} for i, row in enumerate(written)])
    rows = dict(zip(pks, written, strict=True))
    backend = open_backend(engine)
    changed = {pk: random_row(rng) for pk in rng.sample(pks, 20)}
    gone = rng.sample(sorted(set(pks) - set(changed)), 10)
    with writer(engine).begin() as conn:
        fields = {
            pk: {name: row.get(name) for name in WRITABLE_FIELDS} for pk, row in changed.items()
        }
        backend.fulltext.replace(conn, list(fields.items()))
        backend.fulltext.delete(conn, gone)
    rows.update(changed)
    for pk in gone:
        del rows[pk]
    with engine.connect() as conn:
        for word in WORDS:
            text = f"{word} {rng.choice(WORDS)}"
            ranked = backend.fulltext.rank(conn, 1, text, "en", None).tolist()
            assert ranked == oracle(rows, text), text
            assert ranked == reference(conn, 1, text), text
        stale = conn.exec_driver_sql(
            "SELECT count(*) FROM images_fts_words WHERE image_pk = ANY(%s)", (gone,)
        ).scalar_one()
    backend.close()
    assert stale == 0
    assert lexemes(["Café", "CAFE", "cafe"]) == ["cafe"]
