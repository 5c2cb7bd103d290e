"""Two apply transactions that bring the same new facet values at once (PostgreSQL): the
second waits for the first's codes, then uses them; both images count, exactly."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa

from pixsearch.backend import open_backend
from pixsearch.db.engine import writer
from pixsearch.db.tables import images
from pixsearch.index.terms import replace_terms
from pixsearch.vocabulary.fields import WRITABLE_FIELDS


def write_image(conn: sa.Connection, image_id: str, fields: dict[str, Any]) -> None:
    """What apply writes for a new image: its row, its terms, its full text."""
    backend = open_backend(conn.engine)
    row = {"org_id": 1, "image_id": image_id, "created_at": 0, "updated_at": 0, **fields}
    pk = conn.execute(sa.insert(images).values(**row).returning(images.c.id)).scalar_one()
    written = {name: fields.get(name) for name in WRITABLE_FIELDS}
    replace_terms(conn, 1, [(pk, written)])
    backend.fulltext.replace(conn, [(pk, written)])
    backend.close()


def test_concurrent_writers_share_new_facet_codes(engine: sa.Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's word rows")
    first = {"title": "red", "country": "Chile", "keywords": ["new", "both"]}
    second = {"title": "red", "country": "Chile", "keywords": ["both", "other"]}
    started = threading.Event()
    errors: list[BaseException] = []

    def later() -> None:
        try:
            with writer(engine).begin() as conn:
                started.set()
                write_image(conn, "second", second)  # waits on "both" and "Chile"
        except BaseException as error:  # reported by the test below
            errors.append(error)

    with writer(engine).begin() as conn:
        write_image(conn, "first", first)
        thread = threading.Thread(target=later)
        thread.start()
        started.wait(5)
        thread.join(1.0)
        waited = thread.is_alive()  # blocked on the codes this transaction inserted
    thread.join(20)
    assert not errors and not thread.is_alive()
    assert waited
    backend = open_backend(engine)
    with engine.connect() as conn:
        _, facets = backend.fulltext.rank_with_facets(
            conn, 1, "red", "en", None, ("keywords", "country"), 10
        )
        codes = conn.exec_driver_sql("SELECT count(*) FROM facet_values").scalar_one()
    backend.close()
    assert facets == {
        "keywords": [
            {"value": "both", "count": 2},
            {"value": "new", "count": 1},
            {"value": "other", "count": 1},
        ],
        "country": [{"value": "Chile", "count": 2}],
    }
    assert codes == 4
