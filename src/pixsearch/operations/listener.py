"""PostgreSQL LISTEN/NOTIFY: learn of operations queued or finished in other processes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import psycopg
from sqlalchemy.engine import make_url

from pixsearch.db.dialect import FINISHED_CHANNEL, QUEUE_CHANNEL

log = logging.getLogger(__name__)
RECONNECT_S = 2.0


def libpq_dsn(sqlalchemy_url: str) -> str:
    """The same database as a libpq connection string, for a raw psycopg connection."""
    url = make_url(sqlalchemy_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


async def listen(
    database_url: str, on_queued: Callable[[], None], on_finished: Callable[[int], None]
) -> None:
    """Forward notifications until cancelled; reconnect after errors (polling covers gaps)."""
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(
                libpq_dsn(database_url), autocommit=True
            ) as conn:
                await conn.execute(f"LISTEN {QUEUE_CHANNEL}")
                await conn.execute(f"LISTEN {FINISHED_CHANNEL}")
                async for note in conn.notifies():
                    if note.channel == QUEUE_CHANNEL:
                        on_queued()
                    elif note.payload.isdigit():
                        on_finished(int(note.payload))
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.warning("LISTEN connection lost (%s); retrying in %s s", error, RECONNECT_S)
            await asyncio.sleep(RECONNECT_S)
