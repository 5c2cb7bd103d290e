"""A real migrated SQLite file per test, and rows written with the apply step's own helpers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from pixsearch.backend import open_backend
from pixsearch.db.engine import create_db_engine, writer
from pixsearch.db.migrate import upgrade
from pixsearch.db.tables import images, organisations
from pixsearch.index.terms import replace_terms
from pixsearch.vocabulary.fields import WRITABLE_FIELDS
from tests.postgres import database_of


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def module_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Like the shared `database_url`, for a gallery shared by a module's read-only tests."""
    with database_of(request, request.param, tmp_path_factory.mktemp("gallery")) as url:
        yield url


def make_engine(path: Path) -> sa.Engine:
    """A migrated SQLite file with two organisations, 1 and 2."""
    engine = create_db_engine(f"sqlite:///{path}")
    upgrade(engine)
    with writer(engine).begin() as conn:
        conn.execute(
            sa.insert(organisations),
            [
                {"id": 1, "name": "acme", "created_at": 0},
                {"id": 2, "name": "globex", "created_at": 0},
            ],
        )
    return engine


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = make_engine(tmp_path / "search.db")
    yield engine
    engine.dispose()


def add_images(engine: sa.Engine, org_id: int, rows: list[dict[str, Any]]) -> list[int]:
    """Insert images (fields, computed columns, `vectors` {kind: (model, vector)}); return pks.

    Terms, full text and embeddings are written by the indexes of `index/`, as the apply
    step does.
    """
    pks = []
    backend = open_backend(engine)
    with writer(engine).begin() as conn:
        for index, given in enumerate(rows):
            row = dict(given)
            vectors = row.pop("vectors", {})
            row.setdefault("created_at", index)
            row.setdefault("updated_at", row["created_at"])
            pk = conn.execute(
                sa.insert(images).values(org_id=org_id, **row).returning(images.c.id)
            ).scalar_one()
            fields = {name: row.get(name) for name in WRITABLE_FIELDS}
            replace_terms(conn, org_id, [(pk, fields)])
            backend.fulltext.replace(conn, [(pk, fields)])
            stored = [
                (pk, kind, model, np.asarray(v, np.float32)) for kind, (model, v) in vectors.items()
            ]
            if stored:
                backend.embeddings.store(conn, org_id, stored)
            pks.append(pk)
    backend.close()
    return pks


def unit(vector: Any) -> np.ndarray:
    array = np.asarray(vector, dtype=np.float32)
    return array / np.linalg.norm(array)
