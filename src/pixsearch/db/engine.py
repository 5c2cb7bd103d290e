"""Create the database engine for either SQLite (the default) or PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

# Reads through a memory map of the file instead of a read() per page: a search's page of
# 50 rows, looked up by rowid, took 10 % less (bench: read_page after a cache-evicting
# product). Address space, not memory: the pages are the OS page cache's, shared by every
# connection; writes still go through the WAL.
SQLITE_MMAP_BYTES = 1 << 30


class WriteLockBusy(Exception):
    """Another connection of this process holds SQLite's write lock (`try_writer`)."""


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
        options = conn.get_execution_options()
        mode = options.get("sqlite_begin", "DEFERRED")
        if mode == "IMMEDIATE":
            if not write_lock.acquire(blocking=not options.get("sqlite_nowait", False)):
                raise WriteLockBusy
            conn.info["holds_write_lock"] = True
        try:
            on_driver(conn, f"BEGIN {mode}")
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


def try_writer(engine: sa.Engine) -> sa.Engine:
    """`writer`, but BEGIN raises WriteLockBusy at once rather than wait for another
    connection of this process; its connections should also set `busy_timeout=0`, so
    that SQLite refuses at once when another process writes."""
    return engine.execution_options(sqlite_begin="IMMEDIATE", sqlite_nowait=True)


def on_driver(
    conn: sa.Connection,
    sql: str,
    rows: Sequence[tuple[Any, ...]] | None = None,
    params: tuple[Any, ...] = (),
) -> list[tuple[Any, ...]]:
    """Run `sql` with `params` (or once per row of `rows`, if given) on the sqlite3
    connection beneath `conn`, in its transaction; what it answered. SQLAlchemy's own
    execution of a statement costs 20-30 us of Python, more than a small insert itself (a
    write's acceptance makes four: bench/writes.py). Errors are SQLAlchemy's, as through
    `exec_driver_sql`: an IntegrityError is still `sa.exc.IntegrityError`."""
    driver = conn.connection.dbapi_connection  # (its driver_connection is None once detached)
    assert isinstance(driver, sqlite3.Connection)
    try:
        cursor = driver.execute(sql, params) if rows is None else driver.executemany(sql, rows)
        return cursor.fetchall()
    except sqlite3.Error as error:
        raise sa.exc.DBAPIError.instance(sql, rows or params, error, sqlite3.Error) from None
