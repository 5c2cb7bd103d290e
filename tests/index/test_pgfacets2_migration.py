"""Migration 0010_pgfacets2 on a PostgreSQL database that already holds images: the word
rows it fills from the tsvectors, image rows and terms are those the write half writes, and
ranking and its facets read them."""

from __future__ import annotations

import sqlalchemy as sa

from pixsearch.backend import open_backend
from pixsearch.db.engine import writer
from pixsearch.db.migrate import upgrade
from pixsearch.db.tables import images
from pixsearch.index.fulltext import fulltext_columns, tsvector_text
from pixsearch.index.terms import replace_terms
from pixsearch.vocabulary.text import fold
from tests.postgres import PostgresCluster, no_postgres

ROWS = {  # pk: (organisation, title, keywords, country)
    1: (1, "red car", ["car"], "France"),
    2: (2, "red car", [], "France"),
    3: (1, "blue car car", ["Café", "cafe"], None),
    4: (1, "sea", ["red"], "Norway"),
}
WORD_ROWS = "SELECT org_id, word, image_pk, weight, facets FROM images_fts_words ORDER BY 2, 3"


def test_word_rows_are_filled_from_existing_tsvectors(postgres: PostgresCluster | None) -> None:
    if postgres is None:
        no_postgres()
    fields = {
        pk: {"title": title, "keywords": kw, "country": country}
        for pk, (_, title, kw, country) in ROWS.items()
    }
    with postgres.migrated_to("0009_pgvector") as engine:
        with writer(engine).begin() as conn:
            for pk, (org, _, _, country) in ROWS.items():
                row = {"id": pk, "org_id": org, "image_id": f"i{pk}", "country": country}
                conn.execute(sa.insert(images).values(**row, created_at=pk, updated_at=pk))
                conn.exec_driver_sql(
                    "INSERT INTO images_fts (rowid, org_id, document) "
                    "VALUES (%s, %s, %s::tsvector)",
                    (pk, org, tsvector_text(fulltext_columns(fields[pk]))),
                )
                replace_terms(conn, org, [(pk, fields[pk])])
        upgrade(engine)
        backend = open_backend(engine)
        with engine.connect() as conn:
            migrated = conn.exec_driver_sql(WORD_ROWS).all()
            _, facets = backend.fulltext.rank_with_facets(
                conn, 1, "car red", "en", None, ("keywords", "country"), 20
            )
            ranked = {
                (org, text): backend.fulltext.rank(conn, org, text, "en", None).tolist()
                for org in (1, 2)
                for text in ("car", "red", "cafe car")
            }
        with writer(engine).begin() as conn:
            backend.fulltext.replace(conn, list(fields.items()))
        with engine.connect() as conn:
            rewritten = conn.exec_driver_sql(WORD_ROWS).all()
        backend.close()
        assert migrated == rewritten
        keywords = [(fold(f["value"]), f["count"]) for f in facets["keywords"]]
        assert keywords == [("cafe", 1), ("car", 1), ("red", 1)]  # two spellings: once
        assert facets["keywords"][0]["value"] in ("Café", "cafe")
        assert facets["country"] == [
            {"value": "France", "count": 1},
            {"value": "Norway", "count": 1},
        ]
        assert (1, "car", 3, 6) in [row[:4] for row in migrated]  # twice in the title (A: 3)
        assert ranked == {
            (1, "car"): [3, 1],  # title 3 + 3 against title 3 + keyword 2
            (1, "red"): [1, 4],  # title 3, keyword 2
            (1, "cafe car"): [3, 1],  # car 6 + Café 2 against car 5
            (2, "car"): [2],
            (2, "red"): [2],
            (2, "cafe car"): [2],
        }
