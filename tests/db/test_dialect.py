"""Dialect.select_rows: SQLite's way straight through sqlite3 gives what SQLAlchemy gives."""

from __future__ import annotations

import sqlalchemy as sa

from pixsearch.db.dialect import dialect_of
from pixsearch.images.service import page_statement
from pixsearch.vocabulary.fields import READABLE_FIELDS
from tests.search.conftest import add_images

ROWS = [
    {
        "image_id": "full",
        "src": "http://h/a.jpg",
        "title": "Ünïcode title",
        "keywords": ["red", "car"],
        "ai_generated": True,
        "nsfw": False,
        "width": 640,
        "height": 480,
        "aspect_ratio": 4 / 3,
        "faces": [{"n": 1, "box": [0.1, 0.2, 0.3, 0.4], "score": 0.99}],
        "colors": [{"name": "red", "share": 0.5}],
        "date": "2020-01-02",
    },
    {"image_id": "bare"},  # every other column null
    {"image_id": "empty", "keywords": [], "model_release": False, "aspect_ratio": 1 / 3},
]


def test_select_rows_gives_the_values_and_types_sqlalchemy_gives(engine: sa.Engine) -> None:
    pks = add_images(engine, 1, ROWS)
    with engine.connect() as conn:
        dialect = dialect_of(conn)
        _, statement = page_statement(type(dialect), READABLE_FIELDS)
        values = {"pks": dialect.pk_list_text([*pks, 10**6])}  # and a pk with no row
        expected = sorted(map(tuple, conn.execute(statement, values).all()))
        got = sorted(map(tuple, dialect.select_rows(conn, statement, values)))
    assert len(got) == len(ROWS)
    assert got == expected
    # Equal is not enough: True == 1 and 1.0 == 1, but the API writes them differently.
    assert [[type(value) for value in row] for row in got] == [
        [type(value) for value in row] for row in expected
    ]
