"""The in-memory full-text index (SQLite): exact matches and BM25 ranks against a brute-force
computation in plain Python and against FTS5's own bm25(), kept in step by `follow`."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pixsearch.backend import open_backend
from pixsearch.db.engine import writer
from pixsearch.db.tables import images
from pixsearch.index import postings as postings_module
from pixsearch.index.fulltext import (
    WEIGHTS,
    FullText,
    SQLiteFullText,
    fulltext_columns,
    query_words,
)
from pixsearch.vocabulary.operations import Applied
from pixsearch.vocabulary.text import fold, folded_words
from tests.conftest import open_database
from tests.search.conftest import add_images

# Words FTS5's unicode61 (remove_diacritics 2) and folded_words fold alike, in several
# languages, cases and accents; and words they fold differently (ß, ё, й, Greek accents,
# ligatures), where the index follows folded_words as PostgreSQL does.
SAME = "Café cafe CAFÉ niño Nino façade red Red car the a de la el и в Москва москва 2024 x".split()
IMAGE_IDS = itertools.count()
FOLDED = "Straße strasse ёлка елка Αθήνα αθηνα ﬁsh fish".split()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = open_database(f"sqlite:///{tmp_path / 'fulltext.db'}")
    yield engine
    engine.dispose()


def documents(words: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    text = st.lists(st.sampled_from(words), max_size=5).map(" ".join)
    return st.fixed_dictionaries(
        {
            "title": text,
            "caption": text,
            "keywords": st.lists(text, max_size=2),
            "city": text,
        }
    )


def brute_force(rows: dict[int, dict[str, Any]], text: str, lang: str) -> list[int]:
    """BM25 as bm25() defines it over the organisation's documents given as fields."""
    return brute_force_columns(
        {pk: fulltext_columns(fields) for pk, fields in rows.items()}, text, lang
    )


def brute_force_columns(docs: dict[int, Sequence[str]], text: str, lang: str) -> list[int]:
    """BM25 as bm25() defines it, over the organisation's documents (their full-text
    columns), in plain Python: the pks with any of the words, best first, ties by pk."""
    words = query_words(text, lang)
    counted = {}
    for pk, columns in docs.items():
        counts: dict[str, float] = {}
        length = 0
        for column, weight in zip(columns, WEIGHTS, strict=True):
            for word in folded_words(column or ""):
                counts[word] = counts.get(word, 0.0) + weight
                length += 1
        counted[pk] = (counts, length)
    if not counted:
        return []
    average = sum(length for _, length in counted.values()) / len(counted)
    scores: dict[int, float] = {}
    for word in words:
        having = [pk for pk, (counts, _) in counted.items() if word in counts]
        idf = math.log((len(counted) - len(having) + 0.5) / (len(having) + 0.5))
        idf = idf if idf > 0.0 else 1e-6
        for pk in having:
            f, length = counted[pk][0][word], counted[pk][1]
            part = idf * ((f * (1.2 + 1.0)) / (f + 1.2 * (1 - 0.75 + 0.75 * length / average)))
            scores[pk] = scores.get(pk, 0.0) + part
    return sorted(scores, key=lambda pk: (-scores[pk], pk))


def write(engine: sa.Engine, org_id: int, docs: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    rows = [{"image_id": f"img{next(IMAGE_IDS)}", **doc} for doc in docs]
    return dict(zip(add_images(engine, org_id, rows), docs, strict=True))


def rank(fulltext: FullText, engine: sa.Engine, org_id: int, text: str, lang: str) -> list[int]:
    with engine.connect() as conn:
        return fulltext.rank(conn, org_id, text, lang, None).tolist()


def clear(engine: sa.Engine) -> None:
    with writer(engine).begin() as conn:
        conn.exec_driver_sql("DELETE FROM images_fts")
        conn.exec_driver_sql("DELETE FROM image_terms")
        conn.exec_driver_sql("DELETE FROM images")


queries = st.tuples(
    st.lists(st.sampled_from(SAME + FOLDED + ["nowhere"]), min_size=1, max_size=3).map(" ".join),
    st.sampled_from(["en", "es", "fr", "ru"]),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    mine=st.lists(documents(SAME + FOLDED), max_size=25),
    theirs=st.lists(documents(SAME + FOLDED), max_size=25),
    asked=st.lists(queries, min_size=1, max_size=4),
)
def test_matches_and_ranks_equal_brute_force_per_organisation(
    engine: sa.Engine,
    mine: list[dict[str, Any]],
    theirs: list[dict[str, Any]],
    asked: list[tuple[str, str]],
) -> None:
    clear(engine)
    rows = {1: write(engine, 1, mine), 2: write(engine, 2, theirs)}
    fulltext = SQLiteFullText(engine)
    try:
        for text, lang in asked:
            for org_id in (1, 2):
                assert rank(fulltext, engine, org_id, text, lang) == brute_force(
                    rows[org_id], text, lang
                )
    finally:
        fulltext.close()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(docs=st.lists(documents(SAME), max_size=40), asked=st.lists(queries, min_size=1, max_size=4))
@example(  # FTS5 counted `cafe` twice: the second image first
    docs=[
        {"title": "Café", "caption": "", "keywords": [], "city": ""},
        {"title": "", "caption": "Café", "keywords": [], "city": "niño"},
    ],
    asked=[("Café cafe niño", "en")],
)
def test_ranks_equal_fts5_bm25_where_both_fold_alike(
    engine: sa.Engine, docs: list[dict[str, Any]], asked: list[tuple[str, str]]
) -> None:
    """One organisation (FTS5 counts the whole table), words both tokenizers fold alike:
    the very order of FTS5's bm25(), ties by pk. Query words that fold alike count once
    (FTS5 would count `Café cafe` twice): the order is FTS5's for the query with each
    folded word once, in its first spelling."""
    clear(engine)
    write(engine, 1, docs)
    fulltext = SQLiteFullText(engine)
    try:
        for text, lang in asked:
            if all(word in SAME for word in text.split()):
                once = first_spellings(text)
                with engine.connect() as conn:
                    fts5 = FullText.rank(fulltext, conn, 1, once, lang, None).tolist()
                assert rank(fulltext, engine, 1, text, lang) == fts5
    finally:
        fulltext.close()


def first_spellings(text: str) -> str:
    """The words of `text`, each folded word once, in its first spelling."""
    kept: dict[str, str] = {}
    for word in text.split():
        kept.setdefault(fold(word), word)
    return " ".join(kept.values())


def test_folds_as_postgresql_does(engine: sa.Engine) -> None:
    rows = write(engine, 1, [{"title": "Straße"}, {"title": "ёлка"}, {"title": "ﬁsh"}, {}])
    pks = list(rows)
    fulltext = SQLiteFullText(engine)
    assert rank(fulltext, engine, 1, "strasse", "en") == [pks[0]]
    assert rank(fulltext, engine, 1, "ЕЛКА", "ru") == [pks[1]]
    assert rank(fulltext, engine, 1, "fish", "en") == [pks[2]]
    fulltext.close()


def test_an_organisation_without_any_word_matches_nothing(engine: sa.Engine) -> None:
    """Images without text: no length to average (0 / 0 once warned, and warnings fail)."""
    write(engine, 1, [{}, {"keywords": []}])
    fulltext = SQLiteFullText(engine)
    assert rank(fulltext, engine, 1, "red dress", "en") == []
    fulltext.close()


def replace(engine: sa.Engine, fulltext: SQLiteFullText, pk: int, fields: dict[str, Any]) -> None:
    with writer(engine).begin() as conn:
        fulltext.replace(conn, [(pk, fields)])


def test_follows_writes_replacements_and_deletes(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postings_module, "REBUILD_MIN", 3)  # merge often
    backend = open_backend(engine)
    fulltext = backend.fulltext
    assert isinstance(fulltext, SQLiteFullText)
    rows = write(engine, 1, [{"title": f"red car {i}"} for i in range(6)])
    others = write(engine, 2, [{"title": "red"}])
    pks = list(rows)
    assert rank(fulltext, engine, 1, "red", "en") == brute_force(rows, "red", "en")
    # Written after the load: queued by follow, read again by the next search.
    added = write(engine, 1, [{"title": "red red boat"}, {"title": "boat"}])
    rows.update(added)
    fulltext.follow(Applied(1, changed=list(added)))
    for step in range(4):
        pk = pks[step]
        rows[pk] = {"title": f"blue boat {step}"}
        replace(engine, fulltext, pk, rows[pk])
        fulltext.follow(Applied(1, changed=[pk]))
        for text in ("red", "boat", "blue red", "car"):
            assert rank(fulltext, engine, 1, text, "en") == brute_force(rows, text, "en")
    with writer(engine).begin() as conn:
        fulltext.delete(conn, pks[4:])
        conn.execute(sa.delete(images).where(images.c.id.in_(pks[4:])))
    for pk in pks[4:]:
        del rows[pk]
    fulltext.follow(Applied(1, deleted=pks[4:]))
    fulltext.follow(Applied(2, changed=list(others)))  # another organisation's: no effect
    for text in ("red", "boat", "car"):
        assert rank(fulltext, engine, 1, text, "en") == brute_force(rows, text, "en")
    assert rank(fulltext, engine, 2, "red", "en") == list(others)
    backend.close()


def test_a_write_during_the_load_is_queued(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The slot exists before its load reads: an operation that commits after the load's
    snapshot is queued and applied before the search scores (a pk read twice is harmless)."""
    rows = write(engine, 1, [{"title": "red"}])
    fulltext = SQLiteFullText(engine)
    original = postings_module.Slot.load

    def load_then_write(slot: postings_module.Slot, engine_: sa.Engine) -> None:
        original(slot, engine_)
        added = write(engine, 1, [{"title": "red red"}])
        rows.update(added)
        fulltext.follow(Applied(1, changed=[*added, *rows]))

    monkeypatch.setattr(postings_module.Slot, "load", load_then_write)
    assert rank(fulltext, engine, 1, "red", "en") == brute_force(rows, "red", "en")
    assert len(rows) == 2
    fulltext.close()


def test_scope_restricts_matches_but_not_statistics(engine: sa.Engine) -> None:
    rows = write(engine, 1, [{"title": "red", "city": c} for c in ("Oslo", "Rome", "Oslo")])
    fulltext = SQLiteFullText(engine)
    scope = sa.text("images.city = 'Oslo'")
    with engine.connect() as conn:
        scoped = fulltext.rank(conn, 1, "red", "en", scope).tolist()  # type: ignore[arg-type]
    assert scoped == [pk for pk, fields in rows.items() if fields["city"] == "Oslo"]
    fulltext.close()
