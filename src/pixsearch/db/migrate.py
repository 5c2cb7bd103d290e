"""Apply the Alembic migrations (`pixsearch db upgrade`, and `serve` at start)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# The oldest PostgreSQL: 15 brought window run conditions, which end the HNSW scan in the
# server (index.pgvector.until_complete); on 14 the scan would run to its LIMIT.
OLDEST_POSTGRES = 15


def alembic_config(engine: sa.Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the schema up to `revision`; safe to run on every start."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            require_postgres(int(conn.exec_driver_sql("SHOW server_version_num").scalar_one()))
    command.upgrade(alembic_config(engine), revision)


def require_postgres(version_num: int) -> None:
    """Refuse a server older than OLDEST_POSTGRES (`server_version_num`, e.g. 150018)."""
    if version_num // 10000 < OLDEST_POSTGRES:
        raise RuntimeError(
            f"PostgreSQL {version_num // 10000} is too old: pixsearch needs {OLDEST_POSTGRES} "
            "or newer (docs/deployment.md)"
        )
