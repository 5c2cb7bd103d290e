"""The operations table as a queue: enqueue, claim, heartbeat, finish, cancel, recover, read.

Each function is one short statement or transaction on a connection the caller owns; those
that lock or notify take the engine's `Dialect`.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from pixsearch.db.clock import iso_ms, now_ms
from pixsearch.db.dialect import FINISHED_CHANNEL, QUEUE_CHANNEL, Dialect
from pixsearch.db.tables import operation_items, operations, organisations
from pixsearch.errors import Conflict, NotFound
from pixsearch.vocabulary.operations import (
    CELEB_MODES,
    Claimed,
    Item,
    Method,
    Mode,
    NewOperation,
    State,
)

CANCELLED_MSG = "cancelled"


def enqueue(conn: sa.Connection, dialect: Dialect, **spec: Any) -> int:
    """Insert one operation and its items; see `enqueue_many`."""
    return enqueue_many(conn, dialect, [NewOperation(**spec)])[0]


def enqueue_many(conn: sa.Connection, dialect: Dialect, new: list[NewOperation]) -> list[int]:
    """Insert operations and their items with two statements; the caller's transaction
    makes them one unit. Returns the ids in order."""
    now = now_ms()
    rows = [
        {
            "org_id": op.org_id,
            "method": op.method,
            "mode": op.mode,
            "state": State.QUEUED,
            "do_wait": op.wait,
            "do_urgent": op.urgent,
            "do_strict": op.strict,
            "do_subset": op.subset,
            "lang": op.lang,
            "num_total": len(op.items),
            "num_good": 0,
            "num_bad": 0,
            "errors": [],
            "attempts": 0,
            "created_at": now,
        }
        for op in new
    ]
    ids = dialect.insert_numbered(conn, operations, rows)
    items = [
        {
            "op_id": op_id,
            "seq": seq,
            "image_id": item.image_id,
            "raw_id": item.raw_id,
            "body": item.body,
        }
        for op_id, op in zip(ids, new, strict=True)
        for seq, item in enumerate(op.items)
    ]
    if items:
        dialect.insert_rows(conn, operation_items, items)
    if ids:
        # One notification wakes every listener: once per transaction, not per operation
        # (a statement each, most of a group's cost on PostgreSQL). The payload, the
        # newest id, is informational.
        dialect.notify(conn, QUEUE_CHANNEL, str(ids[-1]))
    return ids


def claim_next(
    conn: sa.Connection,
    dialect: Dialect,
    worker: str,
    *,
    session_pid: int | None = None,
    busy: bool = False,
) -> Claimed | None:
    """Mark the next runnable operation as running and return it.

    Urgent first, then by id; organisations that already have a running operation are
    skipped, so one organisation's operations apply one at a time, in queue order. Only
    each organisation's next operation is a candidate, so however many one organisation
    has queued, the others' are seen. A `busy` worker (one already running something)
    claims nothing while an isolated operation is next: it drains, then takes it alone.
    Several workers may claim at once (PostgreSQL): the organisation is re-checked under
    its advisory lock, with a fresh snapshot, and the row changes only while it is still
    queued. `session_pid` is the
    backend pid of the worker's presence session (PostgreSQL): when that session is gone,
    so is the worker.
    """
    for op_id, org_id, isolated in _candidates(conn):
        if isolated and busy:
            return None  # it is next: take no more, so that this worker drains for it
        if not dialect.try_lock_org(conn, org_id) or _next_of_org(conn, org_id) != op_id:
            continue
        claimed = _mark_running(conn, op_id, worker, session_pid)
        if claimed is not None:
            return claimed
    return None


CLAIM_CANDIDATES = 20


def _candidates(conn: sa.Connection) -> Sequence[sa.Row[int, int, bool]]:
    """The first queued operation of each organisation that has none running, in claim
    order: (id, org_id, isolated).

    Two statements, each a few index descents: the heads (`_heads`), then those of them
    whose organisation runs nothing, through the primary key. (As one statement, a join of
    the two, PostgreSQL hashed a scan of the whole table against the few heads.)
    """
    head_ids = conn.execute(_heads()).scalars().all()
    if not head_ids:
        return []
    return conn.execute(_runnable(), {"head_ids": head_ids}).all()


@functools.cache
def _runnable() -> sa.Select[int, int, bool]:
    """Of the operations `head_ids`, those whose organisation runs nothing, in claim order."""
    running = sa.select(operations.c.org_id).where(operations.c.state == State.RUNNING)
    heads: sa.BindParameter[list[int]] = sa.bindparam("head_ids", expanding=True)
    return (
        sa.select(operations.c.id, operations.c.org_id, operations.c.isolated)
        .where(operations.c.id.in_(heads), operations.c.org_id.not_in(running))
        .order_by(*_claim_order(operations))
        .limit(CLAIM_CANDIDATES)
    )


def _claim_order(table: sa.FromClause) -> tuple[sa.ColumnElement[Any], ...]:
    """The order operations are claimed in: urgent first, then by id."""
    return table.c.do_urgent.desc(), table.c.id


def _first_queued(org_id: sa.ColumnElement[int] | int) -> sa.Select[int]:
    """The id of the organisation's first queued operation in claim order (one descent of
    `ix_operations_heads`)."""
    first = operations.alias("first")
    return (
        sa.select(first.c.id)
        .where(first.c.state == State.QUEUED, first.c.org_id == org_id)
        .order_by(*_claim_order(first))
        .limit(1)
    )


@functools.cache
def _heads() -> sa.Select[int]:
    """The id of each organisation's first queued operation in claim order.

    Read from the queue's index (`ix_operations_heads`: state, organisation, urgency, id)
    in as many steps as organisations have operations queued, not as operations are
    queued: a claim under a backlog of 50,000 took 60-90 ms on SQLite when it ranked
    them all, with the write lock held. The organisations come from a loose index scan (the
    least, then the least above it: one index descent each), and each one's head from
    one more descent. Built once: building it took 1.5 ms, running it 20 us.
    """
    least = sa.select(sa.func.min(operations.c.org_id).label("org_id"))
    orgs = least.where(operations.c.state == State.QUEUED).cte("queued_orgs", recursive=True)
    later = operations.alias("later")
    above = sa.select(sa.func.min(later.c.org_id)).where(
        later.c.state == State.QUEUED, later.c.org_id > orgs.c.org_id
    )
    orgs = orgs.union_all(sa.select(above.scalar_subquery()).where(orgs.c.org_id.is_not(None)))
    head = _first_queued(orgs.c.org_id).scalar_subquery()
    return sa.select(head).where(orgs.c.org_id.is_not(None))


def _next_of_org(conn: sa.Connection, org_id: int) -> int | None:
    """The organisation's next operation to run, or None while one of its runs."""
    running = conn.execute(
        sa.select(operations.c.id)
        .where(operations.c.org_id == org_id, operations.c.state == State.RUNNING)
        .limit(1)
    ).first()
    if running is not None:
        return None
    return conn.execute(_first_queued(org_id)).scalar()


def _mark_running(
    conn: sa.Connection, op_id: int, worker: str, session_pid: int | None
) -> Claimed | None:
    now = now_ms()
    row = conn.execute(
        sa.update(operations)
        .where(operations.c.id == op_id, operations.c.state == State.QUEUED)  # not cancelled since
        .values(
            state=State.RUNNING,
            started_at=now,
            heartbeat_at=now,
            worker=worker,
            worker_backend=session_pid,
            attempts=operations.c.attempts + 1,
        )
        .returning(operations)
    ).first()
    if row is None:
        return None
    org = conn.execute(
        sa.select(organisations.c.name).where(organisations.c.id == row.org_id)
    ).scalar_one()
    return Claimed(
        id=row.id,
        org_id=row.org_id,
        method=Method(row.method),
        mode=Mode(row.mode),
        strict=row.do_strict,
        subset=row.do_subset,
        lang=row.lang,
        attempts=row.attempts,
        org=org,
        created_at=row.created_at,
        started_at=row.started_at,
        failures=row.failures,
        crashes=row.crashes,
        isolated=row.isolated,
    )


def load_items(conn: sa.Connection, op_id: int) -> list[Item]:
    rows = conn.execute(
        sa.select(
            operation_items.c.seq,
            operation_items.c.image_id,
            operation_items.c.raw_id,
            operation_items.c.body,
        )
        .where(operation_items.c.op_id == op_id)
        .order_by(operation_items.c.seq)
    )
    return [
        Item(seq=row.seq, image_id=row.image_id, raw_id=row.raw_id, body=row.body) for row in rows
    ]


def heartbeat(conn: sa.Connection, op_id: int, worker: str) -> bool:
    """Say the worker is alive; False if the operation is no longer this worker's."""
    result = conn.execute(
        sa.update(operations)
        .where(
            operations.c.id == op_id,
            operations.c.state == State.RUNNING,
            operations.c.worker == worker,
        )
        .values(heartbeat_at=now_ms())
    )
    return result.rowcount == 1


def finish(
    conn: sa.Connection,
    dialect: Dialect,
    op_id: int,
    worker: str,
    *,
    num_good: int,
    num_bad: int,
    errors: list[dict[str, Any]],
) -> bool:
    """Record the outcome. False (and nothing written) if the operation was taken from us."""
    result = conn.execute(
        sa.update(operations)
        .where(
            operations.c.id == op_id,
            operations.c.state == State.RUNNING,
            operations.c.worker == worker,
        )
        .values(
            state=State.FINISHED,
            finished_at=now_ms(),
            num_good=num_good,
            num_bad=num_bad,
            all_good=not errors,
            errors=errors,
        )
    )
    if result.rowcount != 1:
        return False
    dialect.notify(conn, FINISHED_CHANNEL, str(op_id))  # API processes wake their wait=true
    return True


def cancel(conn: sa.Connection, dialect: Dialect, org_id: int, op_id: int) -> None:
    """Finish a queued operation at once with nothing applied; 409 once it has started."""
    row = conn.execute(
        sa.select(operations.c.state).where(operations.c.id == op_id, operations.c.org_id == org_id)
    ).first()
    if row is None:
        raise NotFound(f"operation {op_id} not found")
    result = conn.execute(
        sa.update(operations)
        .where(operations.c.id == op_id, operations.c.state == State.QUEUED)
        .values(
            state=State.FINISHED,
            finished_at=now_ms(),
            all_good=False,
            num_bad=0,
            errors=[{"id": None, "msg": CANCELLED_MSG}],
        )
    )
    if result.rowcount == 0:
        raise Conflict(f"operation {op_id} has already started and cannot be cancelled")
    dialect.notify(conn, FINISHED_CHANNEL, str(op_id))


def requeue_orphans(
    conn: sa.Connection, dialect: Dialect, orphaned: sa.ColumnElement[bool], *, max_crashes: int
) -> Requeued:
    """Put back the running operations that `orphaned` selects (their process died, or is
    stuck), to run again alone. The death is blamed on an operation only when it was the
    only one running in that process; one blamed `max_crashes` times is finished instead,
    with nothing applied and an error that says so."""
    rows = conn.execute(
        sa.select(operations.c.id, operations.c.worker, operations.c.crashes).where(
            operations.c.state == State.RUNNING, orphaned
        )
    ).all()
    if not rows:
        return Requeued()
    workers = {row.worker for row in rows}
    beside = Counter(
        conn.execute(
            sa.select(operations.c.worker).where(
                operations.c.state == State.RUNNING, operations.c.worker.in_(workers)
            )
        ).scalars()
    )
    outcome = Requeued()
    for op_id, worker, crashes in rows:
        crashes += beside[worker] == 1
        if crashes >= max_crashes:
            _finish_crashed(conn, dialect, op_id, worker, crashes)
            outcome.stopped.append(op_id)
        elif _requeue_isolated(conn, op_id, worker, crashes):
            outcome.requeued.append(op_id)
    return outcome


@dataclass
class Requeued:
    """What `requeue_orphans` did: operations queued again, and those stopped for good."""

    requeued: list[int] = field(default_factory=list)
    stopped: list[int] = field(default_factory=list)


def crash_message(crashes: int) -> str:
    return (
        f"stopped: the process running this operation died {crashes} times while it ran "
        f"alone (PIXSEARCH_MAX_CRASHES); nothing was applied"
    )


def _requeue_isolated(conn: sa.Connection, op_id: int, worker: str, crashes: int) -> bool:
    result = conn.execute(
        _owned(op_id, worker).values(
            state=State.QUEUED,
            started_at=None,
            worker=None,
            worker_backend=None,
            crashes=crashes,
            isolated=True,
        )
    )
    return result.rowcount == 1


def _finish_crashed(
    conn: sa.Connection, dialect: Dialect, op_id: int, worker: str, crashes: int
) -> None:
    conn.execute(_owned(op_id, worker).values(crashes=crashes))
    errors = [{"id": None, "msg": crash_message(crashes)}]
    finish(conn, dialect, op_id, worker, num_good=0, num_bad=0, errors=errors)


def _owned(op_id: int, worker: str) -> sa.Update:
    """An update of the operation while `worker` runs it."""
    return sa.update(operations).where(
        operations.c.id == op_id, operations.c.state == State.RUNNING, operations.c.worker == worker
    )


def release(conn: sa.Connection, op_id: int, worker: str, *, failed: bool = True) -> bool:
    """Give a running operation back to the queue, to be run again from scratch; False if
    it was no longer this worker's. `failed`: the run ended in an unexpected error, which
    counts towards the failure limit; otherwise (the worker is stopping, the operation did
    nothing wrong) the try does not count at all."""
    values: dict[str, Any] = {
        "state": State.QUEUED,
        "started_at": None,
        "worker": None,
        "worker_backend": None,
    }
    if failed:
        values["failures"] = operations.c.failures + 1
    else:
        values["attempts"] = operations.c.attempts - 1
    result = conn.execute(_owned(op_id, worker).values(values))
    return result.rowcount == 1


def purge_finished(conn: sa.Connection, older_than_ms: int) -> int:
    result = conn.execute(
        sa.delete(operations).where(
            operations.c.state == State.FINISHED, operations.c.finished_at < older_than_ms
        )
    )
    return result.rowcount


def get_operation(conn: sa.Connection, org_id: int, op_id: int) -> dict[str, Any]:
    row = conn.execute(
        sa.select(operations).where(operations.c.id == op_id, operations.c.org_id == org_id)
    ).first()
    if row is None:
        raise NotFound(f"operation {op_id} not found")
    return render(row._mapping)


def is_finished(conn: sa.Connection, op_id: int) -> bool:
    state = conn.execute(sa.select(operations.c.state).where(operations.c.id == op_id)).scalar()
    return state == State.FINISHED


def finished_among(conn: sa.Connection, op_ids: Sequence[int]) -> list[int]:
    """Which of `op_ids` are finished (one query however many are asked about)."""
    statement = sa.select(operations.c.id).where(
        operations.c.id.in_(op_ids), operations.c.state == State.FINISHED
    )
    return list(conn.execute(statement).scalars())


def list_operations(
    conn: sa.Connection,
    org_id: int,
    *,
    page: int,
    limit: int,
    finished: bool | None = None,
    method: str | None = None,
) -> list[dict[str, Any]]:
    query = sa.select(operations).where(operations.c.org_id == org_id)
    if finished is not None:
        query = query.where((operations.c.state == State.FINISHED) == finished)
    if method is not None:
        query = query.where(operations.c.method == method)
    query = query.order_by(operations.c.id.desc()).limit(limit).offset((page - 1) * limit)
    return [render(row._mapping) for row in conn.execute(query)]


def render(row: Any) -> dict[str, Any]:
    """The contract's operation object from a row of `operations`."""
    now = now_ms()
    started, finished = row["started_at"], row["finished_at"]
    idle_end = started if started is not None else (finished if finished is not None else now)
    exec_ms = 0 if started is None else (finished if finished is not None else now) - started
    return {
        "op_id": row["id"],
        "method": row["method"],
        "resource": "celebs" if row["mode"] in CELEB_MODES else "image",
        "num_total": row["num_total"],
        "num_good": row["num_good"],
        "num_bad": row["num_bad"],
        "is_started": started is not None,
        "is_finished": row["state"] == State.FINISHED,
        "all_good": row["all_good"],
        "do_wait": row["do_wait"],
        "do_urgent": row["do_urgent"],
        "do_strict": row["do_strict"],
        "idle_ms": max(0, idle_end - row["created_at"]),
        "exec_ms": max(0, exec_ms),
        "created_at": iso_ms(row["created_at"]),
        "started_at": iso_ms(started),
        "finished_at": iso_ms(finished),
        "errors": row["errors"] or [],
    }
