"""A migrated database on each engine with two organisations, 1 (a) and 2 (b)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from pixsearch.db.engine import create_db_engine, writer
from pixsearch.db.migrate import upgrade
from pixsearch.db.tables import organisations


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = create_db_engine(database_url)
    upgrade(engine)
    with writer(engine).begin() as conn:
        for name in ("a", "b"):
            conn.execute(sa.insert(organisations).values(name=name, created_at=0))
    yield writer(engine)
    engine.dispose()
