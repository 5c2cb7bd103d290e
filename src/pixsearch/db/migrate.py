"""Apply the Alembic migrations (`pixsearch db upgrade`, and `serve` at start)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from pixsearch.db.dialect import dialect_of

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: sa.Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the schema up to `revision`; safe to run on every start."""
    with engine.connect() as conn:
        dialect_of(conn).check_server(conn)
    command.upgrade(alembic_config(engine), revision)
