"""Idempotency keys in the queue's transaction, on both engines: repeats, expiry, purge."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from pixsearch.db.dialect import dialect_of
from pixsearch.db.tables import idempotency_keys, operations
from pixsearch.operations import store
from pixsearch.operations.idempotency import (
    KeyReused,
    enqueue_idempotent,
    fingerprint,
    purge_expired,
)
from pixsearch.vocabulary.operations import IdempotencyKey, NewItem, NewOperation

HOUR_MS = 3_600_000


def keyed(org_id: int, key: str, title: str = "t", retention_ms: int = HOUR_MS) -> NewOperation:
    items = [NewItem("x", "x", {"title": title})]
    spec = IdempotencyKey(key, fingerprint("patch", items, {}), retention_ms)
    return NewOperation(org_id, "upd", "patch", items, idempotency=spec)


def submit(engine: sa.Engine, *new: NewOperation) -> list[int | KeyReused]:
    with engine.begin() as conn:
        return enqueue_idempotent(conn, dialect_of(conn), list(new)).answers


def count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_a_key_repeated_in_one_transaction_or_later_names_one_operation(
    engine: sa.Engine,
) -> None:
    first, twin, other_org = submit(engine, keyed(1, "k"), keyed(1, "k"), keyed(2, "k"))
    assert first == twin and isinstance(first, int) and other_org != first
    assert submit(engine, keyed(1, "k")) == [first]
    assert count(engine, operations) == 2


def test_only_the_operations_queued_now_are_reported_queued(engine: sa.Engine) -> None:
    """What the enqueue metric counts: a repeated key's answer is not a new operation."""
    with engine.begin() as conn:
        first = enqueue_idempotent(conn, dialect_of(conn), [keyed(1, "k"), keyed(1, "k")])
    assert first.queued == [0]
    with engine.begin() as conn:
        unkeyed = NewOperation(1, "upd", "patch", [NewItem("y", "y", {"title": "t"})])
        again = enqueue_idempotent(conn, dialect_of(conn), [keyed(1, "k"), unkeyed])
    assert again.queued == [1] and again.answers[0] == first.answers[0]


def test_the_key_with_another_request_is_refused_and_queues_nothing(engine: sa.Engine) -> None:
    (first,) = submit(engine, keyed(1, "k"))
    (refused,) = submit(engine, keyed(1, "k", title="other"))
    assert isinstance(refused, KeyReused) and f"operation {first}" in refused.msg
    assert count(engine, operations) == 1


def test_an_expired_key_can_be_used_again(engine: sa.Engine) -> None:
    (first,) = submit(engine, keyed(1, "k", retention_ms=-1))  # expired at once
    (second,) = submit(engine, keyed(1, "k", title="other"))
    assert isinstance(second, int) and second != first
    assert submit(engine, keyed(1, "k", title="other")) == [second]


def test_purge_removes_expired_keys_only(engine: sa.Engine) -> None:
    submit(engine, keyed(1, "old", retention_ms=-1), keyed(1, "live"))
    with engine.begin() as conn:
        assert purge_expired(conn) == 1
        left = list(conn.execute(sa.select(idempotency_keys.c.key)).scalars())
    assert left == ["live"]


def test_purging_the_operation_takes_its_key_with_it(engine: sa.Engine) -> None:
    (op_id,) = submit(engine, keyed(1, "k"))
    with engine.begin() as conn:
        dialect = dialect_of(conn)
        claimed = store.claim_next(conn, dialect, "w")
        assert claimed is not None and claimed.id == op_id
        store.finish(conn, dialect, op_id, "w", num_good=1, num_bad=0, errors=[])
        assert store.purge_finished(conn, older_than_ms=2**62) == 1
    assert count(engine, idempotency_keys) == 0


def test_two_transactions_storing_one_key_collide_on_the_primary_key(engine: sa.Engine) -> None:
    """What makes racing processes create one operation: the second insert fails (and the
    enqueuer retries it, finding the first's row)."""
    from pixsearch.operations.idempotency import remember

    (op_id,) = submit(engine, keyed(1, "k"))
    spec = keyed(1, "k").idempotency
    assert spec is not None
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        remember(conn, [(1, spec, op_id)])
