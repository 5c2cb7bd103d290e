"""The queue itself, on both engines: claim order, per-organisation exclusion, stale workers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from pixsearch.backend import open_backend
from pixsearch.db.dialect import dialect_of
from pixsearch.db.migrate import alembic_config, upgrade
from pixsearch.db.tables import images, operation_items, operations, organisations
from pixsearch.operations import store
from pixsearch.operations.apply import apply_operation
from pixsearch.vocabulary.operations import NewItem, NewOperation, Prepared


def enqueue(
    engine: sa.Engine, org_id: int, mode: str = "patch", urgent: bool = False, image_id: str = "x"
) -> int:
    with engine.begin() as conn:
        return store.enqueue(
            conn,
            dialect_of(conn),
            org_id=org_id,
            method="upd",
            mode=mode,
            urgent=urgent,
            items=[NewItem(image_id, image_id, {"title": "t"})],
        )


def claim(engine: sa.Engine, worker: str = "w1", busy: bool = False) -> store.Claimed | None:
    with engine.begin() as conn:
        return store.claim_next(conn, dialect_of(conn), worker, busy=busy)


def requeue_all(engine: sa.Engine, max_crashes: int = 3) -> store.Requeued:
    """What recovery does at the start of a SQLite process: every running one is orphaned."""
    with engine.begin() as conn:
        return store.requeue_orphans(conn, dialect_of(conn), sa.true(), max_crashes=max_crashes)


def row_of(engine: sa.Engine, op_id: int) -> sa.Row[Any]:
    with engine.connect() as conn:
        return conn.execute(sa.select(operations).where(operations.c.id == op_id)).one()


def test_claims_urgent_first_then_in_order_one_per_organisation(engine: sa.Engine) -> None:
    first_a = enqueue(engine, 1)
    second_a = enqueue(engine, 1)
    urgent_a = enqueue(engine, 1, urgent=True)
    first_b = enqueue(engine, 2)
    claimed = claim(engine)
    assert claimed is not None and claimed.id == urgent_a
    other = claim(engine, "w2")
    assert other is not None and other.id == first_b  # organisation a is busy
    assert claim(engine, "w3") is None
    with engine.begin() as conn:
        assert store.finish(
            conn, dialect_of(conn), urgent_a, "w1", num_good=1, num_bad=0, errors=[]
        )
    assert [claim(engine).id] == [first_a]  # type: ignore[union-attr]
    assert second_a > first_a


def test_concurrent_claimers_never_take_two_operations_of_one_organisation(
    engine: sa.Engine,
) -> None:
    for _ in range(5):
        enqueue(engine, 1)
    with ThreadPoolExecutor(8) as pool:
        claimed = list(pool.map(lambda n: claim(engine, f"w{n}"), range(8)))
    assert len([op for op in claimed if op is not None]) == 1


def test_finish_refuses_an_operation_taken_from_a_stalled_worker(engine: sa.Engine) -> None:
    op_id = enqueue(engine, 1, mode="add", image_id="img")
    stalled = claim(engine, "stalled")
    assert stalled is not None
    with engine.begin() as conn:
        outcome = store.requeue_orphans(conn, dialect_of(conn), sa.true(), max_crashes=5)
        assert outcome.requeued == [op_id]
    fresh = claim(engine, "fresh")
    assert fresh is not None and fresh.id == op_id and fresh.attempts == 2
    values = {"width": 1, "height": 1, "aspect_ratio": 1.0, "orientation": "square"}
    items = [store.Item(0, "img", "img", {"src": "http://example.com/a.jpg"})]
    backend = open_backend(engine)
    with engine.begin() as conn:
        done = apply_operation(conn, backend, fresh, "fresh", items, [Prepared(values=values)])
        assert done.finished
    with engine.begin() as conn:
        late = apply_operation(conn, backend, stalled, "stalled", items, [Prepared(values=values)])
        assert not late.finished
        conn.rollback()  # what the worker does when its operation was taken away
    backend.close()
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(images)).scalar() == 1
        op = store.get_operation(conn, 1, op_id)
    assert op["num_good"] == 1 and op["is_finished"]


def test_cancel_only_while_queued(engine: sa.Engine) -> None:
    running = enqueue(engine, 1)
    queued = enqueue(engine, 1)
    claim(engine)
    with engine.begin() as conn:
        store.cancel(conn, dialect_of(conn), 1, queued)
    with engine.begin() as conn, pytest.raises(store.Conflict):
        store.cancel(conn, dialect_of(conn), 1, running)
    with engine.begin() as conn, pytest.raises(store.NotFound):
        store.cancel(conn, dialect_of(conn), 2, running)


def test_finish_and_cancel_notify_other_processes(engine: sa.Engine) -> None:
    """`wait=true` in an API process learns of a worker's finish through NOTIFY."""
    if engine.dialect.name != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    import psycopg

    from pixsearch.db.dialect import FINISHED_CHANNEL
    from pixsearch.operations.listener import libpq_dsn

    finished = enqueue(engine, 1)
    cancelled = enqueue(engine, 2)
    url = engine.url.render_as_string(hide_password=False)
    with psycopg.connect(libpq_dsn(url), autocommit=True) as listener:
        listener.execute(f"LISTEN {FINISHED_CHANNEL}")
        claimed = claim(engine)
        assert claimed is not None and claimed.id == finished
        with engine.begin() as conn:
            assert store.finish(
                conn, dialect_of(conn), finished, "w1", num_good=1, num_bad=0, errors=[]
            )
            store.cancel(conn, dialect_of(conn), 2, cancelled)
        payloads = [note.payload for note in listener.notifies(timeout=2, stop_after=2)]
    assert sorted(payloads) == sorted([str(finished), str(cancelled)])


def test_a_long_queue_of_one_organisation_does_not_hide_another(engine: sa.Engine) -> None:
    """Only each organisation's next operation is a candidate: 25 queued operations of
    `a` whose head is being claimed (in an open transaction, on PostgreSQL) leave `b`'s."""
    for _ in range(25):
        enqueue(engine, 1)
    other = enqueue(engine, 2)
    with engine.connect() as first:
        first.begin()
        held = store.claim_next(first, dialect_of(first), "w1")
        assert held is not None and held.org_id == 1
        if engine.dialect.name != "postgresql":
            first.commit()  # SQLite writers are serial: the claim is simply done
        second = claim(engine, "w2")
        assert second is not None and second.id == other
        first.rollback()


def test_the_candidates_are_each_idle_organisations_first_queued_operation(
    engine: sa.Engine,
) -> None:
    """The candidates against the rule applied in Python to the whole table (each
    organisation's first queued operation, urgent first, then by id; none of a busy
    organisation), with gaps between the organisations' ids, one with nothing queued, one
    with only urgent operations, one whose first operation was cancelled, one running."""
    with engine.begin() as conn:
        conn.execute(
            sa.insert(organisations),
            [{"id": org, "name": f"org{org}", "created_at": 0} for org in (5, 9, 40, 41)],
        )
    plan = [(9, False), (1, True), (5, False), (9, True), (1, False), (40, True), (5, False)]
    plan += [(9, False), (40, True), (1, True), (41, False), (5, True), (41, False)]
    ids: dict[int, tuple[int, bool]] = {}
    for org, urgent in plan:
        ids[enqueue(engine, org, urgent=urgent)] = (org, urgent)
    running = claim(engine)  # organisation 1's first urgent one
    assert running is not None and ids[running.id] == (1, True)
    cancelled = min(op_id for op_id, (org, _) in ids.items() if org == 41)
    with engine.begin() as conn:
        store.cancel(conn, dialect_of(conn), 41, cancelled)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(operations.c.id, operations.c.org_id, operations.c.state)
        ).all()
        candidates = store._candidates(conn)
    queued = [(op_id, org) for op_id, org, state in rows if state == "queued"]
    busy = {org for _, org, state in rows if state == "running"}
    heads = {}
    for op_id, org in sorted(queued, key=lambda row: (not ids[row[0]][1], row[0])):
        heads.setdefault(org, op_id)
    expected = sorted(
        (op_id for org, op_id in heads.items() if org not in busy),
        key=lambda op_id: (not ids[op_id][1], op_id),
    )
    assert [op_id for op_id, _, _ in candidates] == expected
    assert {org for _, org, _ in candidates} == {5, 9, 40, 41}


def test_a_claim_reads_as_little_under_a_backlog_as_without(engine: sa.Engine) -> None:
    """Finding the candidates descends the queue's index once or twice an organisation:
    the work of a claim (SQLite's virtual machine steps, counted by its progress handler)
    is the same with 3,000 operations queued as with 6. Ranking every queued operation,
    it grew with them: 290 times as many steps."""
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's progress handler counts the steps; bench figures cover PostgreSQL")

    def steps() -> int:
        with engine.connect() as conn:
            raw = conn.connection.driver_connection
            assert raw is not None
            counted = [0]

            def count() -> int:
                counted[0] += 1
                return 0

            raw.set_progress_handler(count, 1)
            try:
                store._candidates(conn)
            finally:
                raw.set_progress_handler(None, 1)
            conn.rollback()
        return counted[0]

    for org in (1, 2, 1, 2, 1, 2):
        enqueue(engine, org)
    few = steps()
    new = [
        NewOperation(org_id=1 + n % 2, method="upd", mode="patch", items=[NewItem("x", "x", {})])
        for n in range(3000)
    ]
    with engine.begin() as conn:
        store.enqueue_many(conn, dialect_of(conn), new)
    assert steps() <= few + 20


def test_migration_0012_replaces_the_queue_index_by_the_heads_index(engine: sa.Engine) -> None:
    def indexes() -> dict[str, Any]:
        return {index["name"]: index for index in sa.inspect(engine).get_indexes("operations")}

    heads = indexes()["ix_operations_heads"]
    assert heads["column_names"] == ["state", "org_id", "do_urgent", "id"]
    if engine.dialect.name == "postgresql":  # SQLite's reflection does not say
        assert heads["column_sorting"] == {"do_urgent": ("desc",)}
    assert "ix_operations_queue" not in indexes()
    command.downgrade(alembic_config(engine), "0011_pgvector2")
    assert indexes()["ix_operations_queue"]["column_names"] == ["state", "do_urgent", "id"]
    assert "ix_operations_heads" not in indexes()
    upgrade(engine)
    assert "ix_operations_heads" in indexes() and "ix_operations_queue" not in indexes()


def test_a_death_is_blamed_only_on_an_operation_that_ran_alone(engine: sa.Engine) -> None:
    beside = [enqueue(engine, 1), enqueue(engine, 2)]
    for _ in beside:
        claim(engine, "crowded")
    with engine.begin() as conn:
        conn.execute(sa.insert(organisations).values(id=3, name="c", created_at=0))
    alone = enqueue(engine, 3)
    claim(engine, "solo")
    outcome = requeue_all(engine)
    assert sorted(outcome.requeued) == [*beside, alone] and outcome.stopped == []
    assert row_of(engine, alone).crashes == 1
    for op_id in beside:
        row = row_of(engine, op_id)  # two suspects: neither is blamed
        assert (row.state, row.crashes, row.isolated, row.worker) == ("queued", 0, True, None)
    # An isolated operation runs alone: a busy worker takes nothing while it is next (not
    # even a later operation of another organisation), so it drains; an idle one takes it.
    with engine.begin() as conn:
        conn.execute(sa.insert(organisations).values(id=4, name="d", created_at=0))
    later = enqueue(engine, 4)
    assert claim(engine, "busy", busy=True) is None
    first = claim(engine, "idle")
    assert first is not None and first.id == beside[0] and first.isolated
    assert claim(engine, "idle", busy=True) is None  # the rest wait for it to end
    outcome = requeue_all(engine)  # its process died while it ran alone: it is to blame
    assert outcome.requeued == [beside[0]] and row_of(engine, beside[0]).crashes == 1
    assert row_of(engine, later).state == "queued"


def test_an_operation_that_kills_its_process_every_time_is_stopped(engine: sa.Engine) -> None:
    poison = enqueue(engine, 1, mode="add", image_id="p")
    for crash in range(1, 3):
        claimed = claim(engine, f"run{crash}")
        assert claimed is not None and claimed.id == poison and claimed.crashes == crash - 1
        assert requeue_all(engine, max_crashes=3).requeued == [poison]
    assert claim(engine, "run3") is not None
    outcome = requeue_all(engine, max_crashes=3)
    assert outcome.stopped == [poison]
    with engine.connect() as conn:
        op = store.get_operation(conn, 1, poison)
    assert op["is_finished"] and op["all_good"] is False and op["num_good"] == 0
    assert op["errors"] == [{"id": None, "msg": store.crash_message(3)}]
    assert "died 3 times while it ran alone (PIXSEARCH_MAX_CRASHES)" in store.crash_message(3)


def test_release_counts_failures_but_not_a_stopping_worker(engine: sa.Engine) -> None:
    op_id = enqueue(engine, 1)
    claim(engine, "w1")
    with engine.begin() as conn:
        assert store.release(conn, op_id, "w1", failed=True)
    claimed = claim(engine, "w2")
    assert claimed is not None and (claimed.attempts, claimed.failures) == (2, 1)
    with engine.begin() as conn:
        assert not store.release(conn, op_id, "w1", failed=False)  # not w1's any more
        assert store.release(conn, op_id, "w2", failed=False)
    row = row_of(engine, op_id)
    assert (row.state, row.attempts, row.failures) == ("queued", 1, 1)


def test_a_cancelled_operation_is_not_claimed(engine: sa.Engine) -> None:
    op_id = enqueue(engine, 1)
    with engine.begin() as conn:
        store.cancel(conn, dialect_of(conn), 1, op_id)
        assert store._mark_running(conn, op_id, "late", None) is None


def test_a_group_of_operations_gets_new_ids_in_its_order(engine: sa.Engine) -> None:
    """enqueue_many numbers a group in one INSERT (Dialect.insert_numbered): each id names
    the operation given at its place, after the ids already taken, and items follow it."""
    org = 1
    before = enqueue(engine, org)
    group = [
        NewOperation(
            org_id=org,
            method="upd",
            mode="patch",
            lang=lang,
            items=[NewItem(f"{lang}{n}", f"{lang}{n}", {"title": lang}) for n in range(size)],
        )
        for lang, size in (("fr", 2), ("es", 1), ("pt", 3))
    ]
    with engine.begin() as conn:
        ids = store.enqueue_many(conn, dialect_of(conn), group)
    assert ids == sorted(ids) and ids[0] > before and len(set(ids)) == 3
    for op_id, operation in zip(ids, group, strict=True):
        row = row_of(engine, op_id)
        assert (row.lang, row.num_total) == (operation.lang, len(operation.items))
        with engine.connect() as conn:
            items = conn.execute(
                sa.select(operation_items.c.raw_id)
                .where(operation_items.c.op_id == op_id)
                .order_by(operation_items.c.seq)
            ).scalars()
            assert list(items) == [item.raw_id for item in operation.items]


@pytest.mark.parametrize("body", [{"title": "Café ☕", "keywords": ["a", "b"]}, None, []])
def test_insert_rows_stores_what_sqlalchemy_stores(engine: sa.Engine, body: Any) -> None:
    """Dialect.insert_rows (plain SQL on SQLite) writes each value as sa.insert would: the
    same stored text for JSON (None too), the same values read back."""
    op_a, op_b = enqueue(engine, 1), enqueue(engine, 1)
    with engine.begin() as conn:
        dialect_of(conn).insert_rows(
            conn,
            operation_items,
            [{"op_id": op_a, "seq": 5, "image_id": "x", "raw_id": 7, "body": body}],
        )
        conn.execute(
            sa.insert(operation_items),
            [{"op_id": op_b, "seq": 5, "image_id": "x", "raw_id": 7, "body": body}],
        )
    columns = (
        operation_items.c.image_id,
        operation_items.c.raw_id,
        operation_items.c.body,
        sa.cast(operation_items.c.body, sa.Text),
    )
    with engine.connect() as conn:
        mine, theirs = (
            tuple(
                conn.execute(
                    sa.select(*columns).where(
                        operation_items.c.op_id == op_id, operation_items.c.seq == 5
                    )
                ).one()
            )
            for op_id in (op_a, op_b)
        )
    assert mine == theirs and mine[2] == body
