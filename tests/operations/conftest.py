"""The operation tests write as the worker does: transactions take the write lock at BEGIN."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from pixsearch.db.engine import writer


@pytest.fixture
def engine(engine: sa.Engine) -> sa.Engine:
    return writer(engine)
