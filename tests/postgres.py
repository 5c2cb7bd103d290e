"""A real PostgreSQL for the tests: `PIXSEARCH_TEST_POSTGRES_URL`, or a throwaway cluster
started with pgserver (PostgreSQL 16 with pgvector). Each test gets a fresh database,
copied from a migrated template in milliseconds."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from pixsearch.db.engine import create_db_engine, normalise_url
from pixsearch.db.migrate import upgrade

TEMPLATE = "pixsearch_template"


class PostgresCluster:
    """Admin access to a server, and fresh migrated databases on it."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = normalise_url(admin_url)
        self.admin = sa.create_engine(
            self.admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
        )
        self._make_template()

    def url_of(self, database: str) -> str:
        return make_url(self.admin_url).set(database=database).render_as_string(hide_password=False)

    def _make_template(self) -> None:
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")
            conn.exec_driver_sql(f"CREATE DATABASE {TEMPLATE}")
        engine = create_db_engine(self.url_of(TEMPLATE))
        upgrade(engine)
        engine.dispose()

    @contextmanager
    def database(self) -> Iterator[str]:
        """A new database with the current schema; dropped afterwards."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        try:
            yield self.url_of(name)
        finally:
            with self.admin.connect() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextmanager
def start_cluster() -> Iterator[PostgresCluster | None]:
    """The configured server, or a pgserver cluster; None when neither can be had."""
    url = os.environ.get("PIXSEARCH_TEST_POSTGRES_URL")
    if url:
        yield PostgresCluster(url)
        return
    try:
        import pgserver
    except ImportError:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="pixsearch-pg-") as data:
        server = pgserver.get_server(data, cleanup_mode="stop")
        try:
            yield PostgresCluster(server.get_uri())
        finally:
            server.cleanup()


def no_postgres() -> NoReturn:
    """Skip a PostgreSQL test when no server can be had, or fail it where one is required
    (CI sets PIXSEARCH_TEST_REQUIRE_POSTGRES, so both engines always run there)."""
    message = "no PostgreSQL: install pgserver or set PIXSEARCH_TEST_POSTGRES_URL"
    if os.environ.get("PIXSEARCH_TEST_REQUIRE_POSTGRES"):
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def database_of(request: pytest.FixtureRequest, engine: str, sqlite_dir: Path) -> Iterator[str]:
    """A fresh database URL of `engine`: a SQLite file in `sqlite_dir`, or a new database
    in the session's PostgreSQL (the `postgres` fixture)."""
    if engine == "sqlite":
        yield f"sqlite:///{sqlite_dir / 'pixsearch.db'}"
        return
    cluster = request.getfixturevalue("postgres")
    if cluster is None:
        no_postgres()
    with cluster.database() as url:
        yield url
