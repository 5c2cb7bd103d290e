"""The few places where SQLite and PostgreSQL differ, each behind one function."""

from __future__ import annotations

import sqlalchemy as sa

QUEUE_CHANNEL = "pixsearch_queue"  # payload: op id, sent when an operation is queued
FINISHED_CHANNEL = "pixsearch_finished"  # payload: op id, sent when one finishes


def is_postgres(conn: sa.Connection | sa.Engine) -> bool:
    return conn.dialect.name == "postgresql"


def try_lock_org(conn: sa.Connection, org_id: int) -> bool:
    """Hold, until the transaction ends, the right to claim this organisation's next operation.

    SQLite transactions that write are already serial (BEGIN IMMEDIATE). On PostgreSQL two
    workers could otherwise each claim one of the same organisation's operations.
    """
    if not is_postgres(conn):
        return True
    return bool(conn.execute(sa.select(sa.func.pg_try_advisory_xact_lock(1, org_id))).scalar())


def notify(conn: sa.Connection, channel: str, payload: str) -> None:
    """Tell listeners in other processes, when the transaction commits (PostgreSQL only)."""
    if is_postgres(conn):
        conn.execute(sa.select(sa.func.pg_notify(channel, payload)))
