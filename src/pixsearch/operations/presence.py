"""A worker's presence on PostgreSQL: one session held open for the worker's lifetime.

Each operation a worker claims records that session's backend pid. When the worker's
process dies (kill -9, OOM, power loss), its connection closes and PostgreSQL ends the
session at once, so `pg_stat_activity` no longer lists the pid: the operation is
orphaned, and the reaper of any live worker queues it again within seconds. The
heartbeat stays for the worker that is alive but stuck.
"""

from __future__ import annotations

import logging

import psycopg

from pixsearch.operations.listener import libpq_dsn

log = logging.getLogger(__name__)

# A machine that vanishes without closing its connections (power loss) is noticed by the
# server's TCP keepalives: idle 10 s, then 3 probes 5 s apart.
KEEPALIVES = "SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; "
KEEPALIVES += "SET tcp_keepalives_count = 3"


class Presence:
    """The presence session; `pid` is its backend pid, or None until opened."""

    def __init__(self, database_url: str) -> None:
        self.dsn = libpq_dsn(database_url)
        self.conn: psycopg.Connection[tuple[object, ...]] | None = None
        self.pid: int | None = None

    def open(self) -> int:
        """Open the session (again); its backend pid."""
        self.close()
        self.conn = psycopg.connect(self.dsn, autocommit=True)
        self.conn.execute(KEEPALIVES)
        self.pid = self.conn.info.backend_pid
        return self.pid

    def check(self) -> int | None:
        """The backend pid of a live session, reopening a lost one (None while that
        fails: claims then rely on the heartbeat alone). Operations claimed under the old
        pid are requeued by the reaper, and still applied once only: apply commits only
        together with its operation's finish."""
        try:
            if self.conn is None:
                return self.open()
            self.conn.execute("SELECT 1")
            return self.pid
        except psycopg.Error as error:
            log.warning("presence session lost (%s); opening a new one", error)
            try:
                return self.open()
            except psycopg.Error as again:
                log.warning("cannot open a presence session (%s); will try again", again)
                return None

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            finally:
                self.conn = None
                self.pid = None
