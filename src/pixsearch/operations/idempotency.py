"""Idempotency-Key: a repeated write answers with the operation the first one created.

A key belongs to one organisation and lives `PIXSEARCH_IDEMPOTENCY_RETENTION_H`. It is
stored in the transaction that queues the operation, under a primary key on
(organisation, key): of two requests racing with one key, one inserts and the other finds
its row (or, across processes, fails on the key and is retried, finding it then).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from pixsearch.db.clock import now_ms
from pixsearch.db.dialect import Dialect
from pixsearch.db.tables import idempotency_keys
from pixsearch.errors import InvalidInput
from pixsearch.operations import store
from pixsearch.vocabulary.operations import IdempotencyKey, NewItem, NewOperation

KEY_HEADER = "Idempotency-Key"
KEY_PATTERN = r"^[\x20-\x7e]{1,255}$"  # printable ASCII, as an HTTP header carries it


class KeyReused(InvalidInput):
    """The key was used, within its retention time, for a different request."""

    def __init__(self, key: str, op_id: int) -> None:
        super().__init__(
            ("header", KEY_HEADER),
            f"Idempotency-Key {key!r} was already used with a different request "
            f"(operation {op_id}); use a new key for a new request",
        )


def fingerprint(mode: str, items: list[NewItem], options: dict[str, Any]) -> str:
    """SHA-256 of what a write asks for: its mode, options and items (not how to answer)."""
    request = {
        "mode": mode,
        "options": options,
        "items": [[item.raw_id, item.body] for item in items],
    }
    text = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Enqueued:
    """The answer to each operation given, and which of them were queued now (by index):
    a repeated key's answer is an operation queued before, which nothing should count twice."""

    answers: list[int | KeyReused]
    queued: list[int]


def enqueue_idempotent(conn: sa.Connection, dialect: Dialect, new: list[NewOperation]) -> Enqueued:
    """Queue the operations, except those whose key is known: for them, the operation the
    key already names (or KeyReused if it came with another request). A key repeated
    within `new` queues one operation."""
    claims: dict[tuple[int, str], tuple[int, str] | None] = {}
    inserting: list[int] = []
    for index, operation in enumerate(new):
        spec = operation.idempotency
        if spec is None:
            inserting.append(index)
            continue
        slot = (operation.org_id, spec.key)
        if slot not in claims:
            claims[slot] = find(conn, operation.org_id, spec.key)
            if claims[slot] is None:
                inserting.append(index)
    ids = (
        store.enqueue_many(conn, dialect, [new[index] for index in inserting]) if inserting else []
    )
    answers: dict[int, int | KeyReused] = dict(zip(inserting, ids, strict=True))
    keyed: list[tuple[int, IdempotencyKey, int]] = []
    for index, op_id in zip(inserting, ids, strict=True):
        operation = new[index]
        if operation.idempotency is not None:
            claims[(operation.org_id, operation.idempotency.key)] = (
                op_id,
                operation.idempotency.fingerprint,
            )
            keyed.append((operation.org_id, operation.idempotency, op_id))
    remember(conn, keyed)
    replies = [
        answers[index] if index in answers else _replay(claims, operation)
        for index, operation in enumerate(new)
    ]
    return Enqueued(replies, inserting)


def _replay(
    claims: dict[tuple[int, str], tuple[int, str] | None], operation: NewOperation
) -> int | KeyReused:
    spec = operation.idempotency
    assert spec is not None
    claim = claims[(operation.org_id, spec.key)]
    assert claim is not None
    op_id, known = claim
    return op_id if known == spec.fingerprint else KeyReused(spec.key, op_id)


def find(conn: sa.Connection, org_id: int, key: str) -> tuple[int, str] | None:
    """(operation id, fingerprint) of a live key; an expired one is deleted first, so the
    key can be used again."""
    now = now_ms()
    mine = sa.and_(idempotency_keys.c.org_id == org_id, idempotency_keys.c.key == key)
    conn.execute(sa.delete(idempotency_keys).where(mine, idempotency_keys.c.expires_at < now))
    row = conn.execute(
        sa.select(idempotency_keys.c.op_id, idempotency_keys.c.fingerprint).where(mine)
    ).first()
    return None if row is None else (row.op_id, row.fingerprint)


def remember(conn: sa.Connection, rows: list[tuple[int, IdempotencyKey, int]]) -> None:
    """Store (organisation, key, operation id) rows; a key stored meanwhile by another
    transaction makes this raise IntegrityError."""
    if not rows:
        return
    now = now_ms()
    conn.execute(
        sa.insert(idempotency_keys),
        [
            {
                "org_id": org_id,
                "key": spec.key,
                "fingerprint": spec.fingerprint,
                "op_id": op_id,
                "created_at": now,
                "expires_at": now + spec.retention_ms,
            }
            for org_id, spec, op_id in rows
        ],
    )


def purge_expired(conn: sa.Connection, now: int | None = None) -> int:
    result = conn.execute(
        sa.delete(idempotency_keys).where(
            idempotency_keys.c.expires_at < (now_ms() if now is None else now)
        )
    )
    return result.rowcount
