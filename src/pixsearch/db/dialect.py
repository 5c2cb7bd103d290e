"""What SQLite and PostgreSQL do differently at the level of plain SQL, behind one interface.

One `Dialect` per engine, chosen once by `dialect_of` when resources open (the way
`huey.storage` picks a storage class); nothing else asks which engine it runs on. The
derived indexes keep their own engine classes (`index.fulltext`, `index.embeddings`) and
`backend.Backend` bundles the three.
"""

from __future__ import annotations

import functools
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from pixsearch.db.engine import on_driver
from pixsearch.db.functions import is_number_text, register_functions

QUEUE_CHANNEL = "pixsearch_queue"  # payload: op id, sent when an operation is queued
FINISHED_CHANNEL = "pixsearch_finished"  # payload: op id, sent when one finishes
# Sets of image pks up to this size travel as a plain IN list; larger ones as one parameter.
INLINE_PKS = 500
# The oldest PostgreSQL: 15 brought window run conditions, which end the HNSW scan in the
# server (index.pgvector.complete_scan); on 14 the scan would run to its LIMIT.
OLDEST_POSTGRES = 15

Condition = sa.ColumnElement[bool]
PG_STAT_ACTIVITY = sa.table("pg_stat_activity", sa.column("pid", sa.Integer))
PK_ARRAY = ARRAY(sa.BigInteger)


class Dialect(ABC):
    """The SQL of one engine where the two differ."""

    name: str
    # Whether one process owns the database: what runs at start was ours, and died with us.
    single_process: bool
    # Whether a commit is cheap enough for the event loop to make itself: no round trip to
    # a server (operations.enqueuer writes on the loop when the write lock is free).
    commits_in_process: bool

    @abstractmethod
    def try_lock_org(self, conn: sa.Connection, org_id: int) -> bool:
        """Hold, until the transaction ends, the right to claim this organisation's next
        operation."""

    def insert_rows(self, conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        """Insert `rows` (dicts of the same keys) in one executemany."""
        conn.execute(sa.insert(table), rows)

    def select_rows(
        self, conn: sa.Connection, statement: sa.Select[Any], values: dict[str, Any]
    ) -> Sequence[Sequence[Any]]:
        """The rows of `statement`, each its columns' values in order."""
        return conn.execute(statement, values).all()

    @abstractmethod
    def insert_numbered(
        self, conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]
    ) -> list[int]:
        """Insert `rows` into `table` (its integer primary key `id` left to the database);
        their new ids, in the order of `rows`."""

    @abstractmethod
    def notify(self, conn: sa.Connection, channel: str, payload: str) -> None:
        """Tell listeners in other processes, when the transaction commits."""

    @abstractmethod
    def try_lock_reaper(self, conn: sa.Connection) -> bool:
        """Hold, until the transaction ends, the right to requeue orphaned operations: one
        reaper at a time, so that a death is blamed on an operation only once."""

    @abstractmethod
    def worker_gone(self, backend: sa.ColumnElement[int]) -> Condition:
        """True where `backend` (a claiming worker's presence session) no longer exists."""

    @abstractmethod
    def check_server(self, conn: sa.Connection) -> None:
        """Raise RuntimeError, saying what to install, if the server is too old."""

    @abstractmethod
    def optimize(self, conn: sa.Connection) -> None:
        """Refresh the planner's statistics, where the engine does not do it itself."""

    @abstractmethod
    def prepare_search(self, conn: sa.Connection) -> None:
        """Make the SQL functions of `db.functions` callable on this connection."""

    @abstractmethod
    def fetch_pks(self, conn: sa.Connection, statement: sa.Select[Any]) -> NDArray[np.int64]:
        """The single integer column of `statement`, as an array, fast even for a million."""

    @abstractmethod
    def pk_set(self, column: sa.ColumnElement[int], values: sa.BindParameter[str]) -> Condition:
        """`column` is one of the pks that `values` holds, written by `pk_list_text`."""

    @abstractmethod
    def pk_list_text(self, values: list[int]) -> str:
        """pks as the one text parameter of `pk_set`."""

    def large_pk_set(self, column: sa.ColumnElement[int], values: list[int]) -> Condition:
        """`column` is one of many `values`, bound as one parameter."""
        return self.pk_set(column, sa.literal(self.pk_list_text(values), sa.Text))

    @abstractmethod
    def ignoring_case(self, column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        """The text to order by, ignoring case."""

    def pk_set_condition(
        self, column: sa.ColumnElement[int], pks: Sequence[int] | NDArray[np.int64]
    ) -> Condition:
        """`column` is one of `pks`; a large set travels as one parameter."""
        values: list[int] = np.asarray(pks, dtype=np.int64).tolist()
        if len(values) <= INLINE_PKS:
            return column.in_(values)
        return self.large_pk_set(column, values)


class SQLiteDialect(Dialect):
    name = "sqlite"
    single_process = True
    commits_in_process = True  # WAL with synchronous=NORMAL: a commit writes, never syncs

    def try_lock_org(self, conn: sa.Connection, org_id: int) -> bool:
        return True  # SQLite transactions that write are already serial (BEGIN IMMEDIATE)

    def insert_numbered(
        self, conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]
    ) -> list[int]:
        """The ids SQLite itself would give (the largest plus one, row after row), given in
        one multi-row INSERT: SQLite cannot say in which order a multi-row RETURNING
        answers, so SQLAlchemy would otherwise insert row by row. No other writer can take
        these ids meanwhile: a transaction that writes holds SQLite's one write lock (a
        deferred one that lost the race fails to upgrade instead, and the primary key
        refuses a duplicate in any case)."""
        ((last,),) = on_driver(conn, largest_id(table))
        last = last or 0
        ids = list(range(last + 1, last + 1 + len(rows)))
        self.insert_rows(
            conn, table, [{**row, "id": id_} for row, id_ in zip(rows, ids, strict=True)]
        )
        return ids

    def insert_rows(self, conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        """One executemany of plain SQL: SQLAlchemy's processing of each row's parameters
        cost more than the inserts of a write's group (bench/writes.py). JSON columns are
        written as SQLAlchemy writes them (json.dumps, None as 'null')."""
        if not rows:
            return
        names = tuple(rows[0])
        sql, encoded = plain_insert(table, names)
        values = []
        for row in rows:
            value = [row[name] for name in names]
            for at in encoded:
                value[at] = json.dumps(value[at])
            values.append(tuple(value))
        on_driver(conn, sql, values)

    def select_rows(
        self, conn: sa.Connection, statement: sa.Select[Any], values: dict[str, Any]
    ) -> Sequence[Sequence[Any]]:
        """Straight on sqlite3, each value converted by its column type's own result
        processor (SQLAlchemy's conversions: JSON decoded, 0 and 1 as booleans).
        SQLAlchemy's execution and rows cost a quarter of a page of 50 images after a
        vector search (bench/search.py (a)). The parameters go as given: text, numbers."""
        sql, names, processors = plain_select(statement, conn.dialect)
        rows = on_driver(conn, sql, params=tuple(values[name] for name in names))
        if not processors:
            return rows
        converted = []
        for row in rows:
            cells = list(row)
            for at, process in processors:
                if (value := cells[at]) is not None:  # every processor keeps NULL as None
                    cells[at] = process(value)
            converted.append(cells)
        return converted

    def notify(self, conn: sa.Connection, channel: str, payload: str) -> None:
        return None  # one process: the worker wakes its waiters directly

    def try_lock_reaper(self, conn: sa.Connection) -> bool:
        return True

    def worker_gone(self, backend: sa.ColumnElement[int]) -> Condition:
        return sa.false()  # one process: recovery at start requeues everything it left

    def check_server(self, conn: sa.Connection) -> None:
        return None  # the sqlite3 module's own library

    def optimize(self, conn: sa.Connection) -> None:
        """ANALYZE, so filters and facets keep good plans as a catalogue grows: without it
        a facet over 20k hits was measured twice as slow. Each index is sampled (about
        1,000 rows), so this takes half a second on a million images."""
        conn.exec_driver_sql("PRAGMA analysis_limit=1000")
        conn.exec_driver_sql("ANALYZE")

    def prepare_search(self, conn: sa.Connection) -> None:
        register_functions(conn)

    def fetch_pks(self, conn: sa.Connection, statement: sa.Select[Any]) -> NDArray[np.int64]:
        """`group_concat` builds one string inside the database and NumPy parses it:
        several times faster than fetching a Python tuple per row."""
        inner = statement.subquery()
        (column,) = inner.c
        text = conn.execute(sa.select(sa.func.group_concat(column))).scalar()
        if not text:
            return np.zeros(0, dtype=np.int64)
        return np.fromstring(str(text), dtype=np.int64, sep=",")

    def pk_set(self, column: sa.ColumnElement[int], values: sa.BindParameter[str]) -> Condition:
        table = sa.func.json_each(values)
        return column.in_(sa.select(table.table_valued("value").c.value))

    def pk_list_text(self, values: list[int]) -> str:
        return json.dumps(values)

    def ignoring_case(self, column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        return sa.collate(column, "NOCASE")


@functools.lru_cache(maxsize=8)
def largest_id(table: sa.Table) -> str:
    """SQLite's SELECT of the largest id in `table`, as plain SQL: built by SQLAlchemy, this
    one statement cost more than a write's inserts (bench/writes.py, under py-spy)."""
    return f"SELECT max(id) FROM {sqlite_dialect().identifier_preparer.quote(table.name)}"


@functools.lru_cache(maxsize=64)
def plain_select(
    statement: sa.Select[Any], dialect: sa.Dialect
) -> tuple[str, tuple[str, ...], tuple[tuple[int, Any], ...]]:
    """The SQL of `statement` in the engine's SQLAlchemy `dialect` (SQLite's), the names of
    its parameters in order, and the result processors of its columns that have one, by
    position: the engine's own, with whatever JSON reader it was given."""
    compiled = statement.compile(dialect=dialect)
    processors = tuple(
        (at, process)
        for at, column in enumerate(statement.selected_columns)
        if (process := column.type.dialect_impl(dialect).result_processor(dialect, None))
    )
    return compiled.string, tuple(compiled.positiontup or ()), processors


@functools.lru_cache(maxsize=32)
def plain_insert(table: sa.Table, names: tuple[str, ...]) -> tuple[str, tuple[int, ...]]:
    """SQLite's INSERT of these columns with positional parameters, and the positions of
    the JSON columns among them."""
    quote = sqlite_dialect().identifier_preparer.quote
    columns = ", ".join(quote(name) for name in names)
    marks = ", ".join("?" * len(names))
    sql = f"INSERT INTO {quote(table.name)} ({columns}) VALUES ({marks})"
    encoded = tuple(i for i, name in enumerate(names) if isinstance(table.c[name].type, sa.JSON))
    return sql, encoded


class PostgresDialect(Dialect):
    name = "postgresql"
    single_process = False
    commits_in_process = False

    def try_lock_org(self, conn: sa.Connection, org_id: int) -> bool:
        """Two workers could otherwise each claim one of the same organisation's operations."""
        return bool(conn.execute(sa.select(sa.func.pg_try_advisory_xact_lock(1, org_id))).scalar())

    def insert_numbered(
        self, conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]
    ) -> list[int]:
        """One INSERT ... RETURNING, sorted by SQLAlchemy into the order of `rows`."""
        statement = sa.insert(table).returning(table.c.id, sort_by_parameter_order=True)
        return [row.id for row in conn.execute(statement, rows)]

    def notify(self, conn: sa.Connection, channel: str, payload: str) -> None:
        conn.execute(sa.select(sa.func.pg_notify(channel, payload)))

    def try_lock_reaper(self, conn: sa.Connection) -> bool:
        return bool(conn.execute(sa.select(sa.func.pg_try_advisory_xact_lock(2, 0))).scalar())

    def worker_gone(self, backend: sa.ColumnElement[int]) -> Condition:
        """The session's client process died: the server ends a session at once when its
        connection closes, and `pg_stat_activity` (readable by any role) lists it no more."""
        alive = sa.exists().where(PG_STAT_ACTIVITY.c.pid == backend)
        return sa.and_(backend.is_not(None), ~alive)

    def check_server(self, conn: sa.Connection) -> None:
        require_postgres(int(conn.exec_driver_sql("SHOW server_version_num").scalar_one()))

    def optimize(self, conn: sa.Connection) -> None:
        return None  # autovacuum keeps the statistics fresh

    def prepare_search(self, conn: sa.Connection) -> None:
        return None  # migration 0002 created the functions

    def fetch_pks(self, conn: sa.Connection, statement: sa.Select[Any]) -> NDArray[np.int64]:
        """One array built in the database, its text parsed by NumPy: for 20k pks a row
        each costs more in Python than the query."""
        inner = statement.subquery()
        (column,) = inner.c
        text = conn.execute(sa.select(sa.cast(sa.func.array_agg(column), sa.Text))).scalar()
        return parse_pk_array(text)

    def pk_set(self, column: sa.ColumnElement[int], values: sa.BindParameter[str]) -> Condition:
        """`column = ANY(array)`, the array bound as one text parameter and read by an
        InitPlan. Text, because psycopg adapts a list of 20k ints ten times slower than
        it sends a string. An InitPlan, because the planner, given the array as a
        constant, estimates its elements one by one (tens of milliseconds for 20k) and
        then prefers a sequential scan; given a parameter, it looks the pks up by index."""
        array = sa.select(sa.cast(values, PK_ARRAY)).scalar_subquery()
        return column == sa.any_(sa.cast(array, PK_ARRAY))

    def pk_list_text(self, values: list[int]) -> str:
        return "{" + str(values)[1:-1] + "}"  # str(): the fastest

    def ignoring_case(self, column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        return sa.func.lower(column)


def require_postgres(version_num: int) -> None:
    """Refuse a server older than OLDEST_POSTGRES (`server_version_num`, e.g. 150018)."""
    if version_num // 10000 < OLDEST_POSTGRES:
        raise RuntimeError(
            f"PostgreSQL {version_num // 10000} is too old: pixsearch needs {OLDEST_POSTGRES} "
            "or newer (docs/deployment.md)"
        )


def parse_pk_array(text: str | None) -> NDArray[np.int64]:
    """The pks of PostgreSQL's text of an integer array (`{1,2,3}`, or NULL for none)."""
    if not text or text == "{}":
        return np.zeros(0, dtype=np.int64)
    return np.fromstring(text[1:-1], dtype=np.int64, sep=",")


# --- Expressions each engine compiles its own way -----------------------------------------

NUMBER_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"


class NumberText(FunctionElement[bool]):
    """Whether the text is a number as the formula reads one (`is_number_text`)."""

    type = sa.Boolean()
    inherit_cache = True


class NumberOfText(FunctionElement[float]):
    """The text as a number; PostgreSQL casts only numbers (a cast of 'a' is an error)."""

    type = sa.Float()
    inherit_cache = True


@compiles(NumberText)
def number_text_sqlite(element: NumberText, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = element.clauses
    return "(" + str(compiler.process(is_number_text(column), **kw)) + ")"  # for a NOT


@compiles(NumberText, "postgresql")
def number_text_postgres(element: NumberText, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = element.clauses
    return (
        "(" + str(compiler.process(column.op("~", is_comparison=True)(NUMBER_PATTERN), **kw)) + ")"
    )


@compiles(NumberOfText)
def number_of_text_sqlite(element: NumberOfText, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = element.clauses
    return str(compiler.process(sa.cast(column, sa.Float), **kw))


@compiles(NumberOfText, "postgresql")
def number_of_text_postgres(element: NumberOfText, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = element.clauses
    number = sa.case((NumberText(column), sa.cast(column, sa.Float)))
    return str(compiler.process(number, **kw))


DIALECTS: dict[str, type[Dialect]] = {"sqlite": SQLiteDialect, "postgresql": PostgresDialect}


def dialect_of(bind: sa.Engine | sa.Connection) -> Dialect:
    """The dialect object of the database behind `bind` (the one place that asks)."""
    return DIALECTS[bind.dialect.name]()
