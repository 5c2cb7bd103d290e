"""A real PostgreSQL for the tests: `PIXSEARCH_TEST_POSTGRES_URL`, or a throwaway cluster
of the machine's PostgreSQL (Debian's 15, with pgvector built by `make postgres`), started
with initdb + pg_ctl on a free loopback port. Each test gets a fresh database, copied from a
migrated template in milliseconds.

PostgreSQL refuses to run as root, so as root (CI) the cluster runs as the `postgres` user
in a directory it owns. fsync is off: the throwaway cluster never outlives a crash of the
machine, and the crash tests kill pixsearch processes, not the server.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from pixsearch.db.engine import create_db_engine, normalise_url, writer
from pixsearch.db.migrate import upgrade
from pixsearch.db.tables import organisations

TEMPLATE = "pixsearch_template"
# Where `make postgres` builds pgvector for (Debian's layout); PIXSEARCH_TEST_PG_BINDIR or
# the pg_config on PATH name another installation.
DEBIAN_BINDIRS = "/usr/lib/postgresql/*/bin"
# The throwaway test server trades durability it never needs for speed.
TEST_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


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
    def database(self, *, migrated: bool = True) -> Iterator[str]:
        """A new database with the current schema (or, not `migrated`, an empty one for a
        migration to start from); dropped afterwards."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        template = f" TEMPLATE {TEMPLATE}" if migrated else ""
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}{template}")
        try:
            yield self.url_of(name)
        finally:
            with self.admin.connect() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    @contextmanager
    def migrated_to(self, revision: str) -> Iterator[sa.Engine]:
        """An engine on a new database migrated only up to `revision`, holding
        organisations 1 and 2: the start of a test of the migrations after it."""
        with self.database(migrated=False) as url:
            engine = create_db_engine(url)
            try:
                upgrade(engine, revision)
                with writer(engine).begin() as conn:
                    conn.execute(
                        sa.insert(organisations),
                        [{"id": org, "name": f"o{org}", "created_at": 0} for org in (1, 2)],
                    )
                yield engine
            finally:
                engine.dispose()


def server_bindir() -> Path | None:
    """The bin directory of a PostgreSQL whose installation has the pgvector extension."""
    candidates = []
    if os.environ.get("PIXSEARCH_TEST_PG_BINDIR"):
        candidates.append(Path(os.environ["PIXSEARCH_TEST_PG_BINDIR"]))
    if pg_config := shutil.which("pg_config"):
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        candidates.append(Path(found.stdout.strip()))
    candidates += [Path(d) for d in sorted(glob.glob(DEBIAN_BINDIRS), reverse=True)]
    for bindir in candidates:
        sharedir = (
            subprocess.run(
                [bindir / "pg_config", "--sharedir"], capture_output=True, text=True
            ).stdout.strip()
            if (bindir / "pg_config").exists()
            else ""
        )
        has_vector = sharedir and Path(sharedir, "extension", "vector.control").exists()
        if (bindir / "pg_ctl").exists() and has_vector:
            return bindir
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LocalServer:
    """A PostgreSQL cluster in `data`, run by pg_ctl as a non-root user.

    `start` initialises the directory the first time; a kept directory starts again with
    its databases (the benchmarks keep their rows that way).
    """

    def __init__(self, bindir: Path, data: Path, settings: Sequence[str] = ()) -> None:
        self.bindir = bindir
        self.data = data
        self.settings = settings
        self.port = free_port()
        # root may not run the server: Debian's `postgres` user does, in a directory it owns
        self.user = "postgres" if os.geteuid() == 0 else None

    def run(self, *argv: str) -> None:
        command = [str(self.bindir / argv[0]), *argv[1:]]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        subprocess.run(command, check=True, capture_output=True, text=True)

    def start(self) -> str:
        self.data.mkdir(parents=True, exist_ok=True)
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.data, entry.pw_uid, entry.pw_gid)
        if not (self.data / "PG_VERSION").exists():
            self.run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8")
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1"
        options += "".join(f" -c {setting}" for setting in self.settings)
        log = self.data / "server.log"
        self.run("pg_ctl", "-D", str(self.data), "-l", str(log), "-w", "-o", options, "start")
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        self.run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")


@contextmanager
def local_server(
    data: Path | None = None, settings: Sequence[str] = TEST_SETTINGS
) -> Iterator[str | None]:
    """The admin URL of a cluster of the machine's PostgreSQL, in `data` (kept) or in a
    temporary directory (removed); None when the machine has no PostgreSQL with pgvector."""
    bindir = server_bindir()
    if bindir is None:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="pixsearch-pg-") as scratch:
        os.chmod(scratch, 0o755)  # the server's user must reach its directory inside
        server = LocalServer(bindir, data or Path(scratch, "data"), settings)
        url = server.start()
        try:
            yield url
        finally:
            server.stop()


@contextmanager
def bench_database(data: str | None, settings: Sequence[str], name: str) -> Iterator[str]:
    """For a benchmark: a migrated throwaway database, or with `data` the kept database
    `name` of a cluster in that directory (created on its first run)."""
    with local_server(None if data is None else Path(data), settings) as admin_url:
        assert admin_url is not None, "no PostgreSQL with pgvector: run `make postgres`"
        if data is None:
            with PostgresCluster(admin_url).database() as url:
                yield url
            return
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            exists = conn.exec_driver_sql(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).scalar()
            if not exists:
                conn.exec_driver_sql(f"CREATE DATABASE {name}")
        admin.dispose()
        url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        engine = create_db_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


@contextmanager
def start_cluster() -> Iterator[PostgresCluster | None]:
    """The configured server, or a throwaway local cluster; None when neither can be had."""
    url = os.environ.get("PIXSEARCH_TEST_POSTGRES_URL")
    if url:
        yield PostgresCluster(url)
        return
    with local_server() as admin_url:
        yield None if admin_url is None else PostgresCluster(admin_url)


def no_postgres() -> NoReturn:
    """Skip a PostgreSQL test when no server can be had, or fail it where one is required
    (CI sets PIXSEARCH_TEST_REQUIRE_POSTGRES, so both engines always run there)."""
    message = "no PostgreSQL with pgvector: run `make postgres` or set PIXSEARCH_TEST_POSTGRES_URL"
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
