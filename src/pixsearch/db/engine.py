"""Create the database engine for either SQLite (the default) or PostgreSQL."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

# Reads through a memory map of the file instead of a read() per page: a search's page of
# 50 rows, looked up by rowid, took 10 % less (bench: read_page after a cache-evicting
# product). Address space, not memory: the pages are the OS page cache's, shared by every
# connection; writes still go through the WAL.
SQLITE_MMAP_BYTES = 1 << 30


def normalise_url(url: str) -> str:
    """Route plain `postgresql://` URLs to psycopg 3, the driver we install."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def create_db_engine(url: str, *, pool_size: int = 10, max_overflow: int = 20) -> sa.Engine:
    """An engine tuned for our access pattern: many short transactions.

    The pool sizes apply to PostgreSQL, where every process holds its own pool.
    """
    url = normalise_url(url)
    if url.startswith("sqlite"):
        return _create_sqlite_engine(url)
    return sa.create_engine(url, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=True)


def _create_sqlite_engine(url: str) -> sa.Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        pool_size=8,
        max_overflow=8,
    )
    sa.event.listen(engine, "connect", _configure_sqlite)
    # pysqlite's own transaction handling defers BEGIN; take over so that a write
    # transaction starts with BEGIN IMMEDIATE and never fails mid-way on a lock upgrade.
    # Writers of this process queue on a lock first: SQLite's busy handler would make
    # them sleep-poll instead, which costs milliseconds per write under contention.
    write_lock = threading.Lock()

    def begin(conn: sa.Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        if mode == "IMMEDIATE":
            write_lock.acquire()
            conn.info["holds_write_lock"] = True
        try:
            conn.exec_driver_sql(f"BEGIN {mode}")
        except BaseException:
            end(conn)
            raise

    def end(conn: sa.Connection) -> None:
        if conn.info.pop("holds_write_lock", False):
            write_lock.release()

    sa.event.listen(engine, "begin", begin)
    sa.event.listen(engine, "commit", end)
    sa.event.listen(engine, "rollback", end)
    return engine


def _configure_sqlite(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # autocommit at the driver; we issue BEGIN ourselves
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable at each checkpoint; safe with WAL
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
    cursor.close()


def writer(engine: sa.Engine) -> sa.Engine:
    """The same engine, but its transactions take SQLite's write lock at BEGIN."""
    return engine.execution_options(sqlite_begin="IMMEDIATE")
