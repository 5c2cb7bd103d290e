"""Organisations and their API keys: keys are random, shown once, stored as SHA-256."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import sqlalchemy as sa

from pixsearch.db.clock import now_ms
from pixsearch.db.tables import api_keys, organisations
from pixsearch.errors import NotFound, Unauthorized

KEY_PREFIX = "pxs_"
PREFIX_LENGTH = 12  # what `keys list` shows and `keys revoke` takes: "pxs_" + 8 characters


@dataclass(frozen=True)
class Organisation:
    id: int
    name: str


@dataclass(frozen=True)
class KeyInfo:
    prefix: str
    org: str
    created_at: int
    revoked_at: int | None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(conn: sa.Connection, org_name: str) -> str:
    """Create a key for `org_name` (creating the organisation if new); return the key."""
    org_id = conn.execute(
        sa.select(organisations.c.id).where(organisations.c.name == org_name)
    ).scalar()
    if org_id is None:
        org_id = conn.execute(
            sa.insert(organisations)
            .values(name=org_name, created_at=now_ms())
            .returning(organisations.c.id)
        ).scalar_one()
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    conn.execute(
        sa.insert(api_keys).values(
            org_id=org_id, prefix=key[:PREFIX_LENGTH], key_hash=hash_key(key), created_at=now_ms()
        )
    )
    return key


def list_keys(conn: sa.Connection) -> list[KeyInfo]:
    rows = conn.execute(
        sa.select(
            api_keys.c.prefix, organisations.c.name, api_keys.c.created_at, api_keys.c.revoked_at
        )
        .join(organisations, organisations.c.id == api_keys.c.org_id)
        .order_by(organisations.c.name, api_keys.c.id)
    )
    return [KeyInfo(*row) for row in rows]


def revoke_key(conn: sa.Connection, prefix: str) -> None:
    result = conn.execute(
        sa.update(api_keys)
        .where(api_keys.c.prefix == prefix, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now_ms())
    )
    if result.rowcount == 0:
        raise NotFound(f"no active key with prefix {prefix!r}")


def authenticate(conn: sa.Connection, key: str | None) -> Organisation:
    """The organisation owning `key`; Unauthorized for a missing, unknown or revoked key."""
    if not key:
        raise Unauthorized("missing API key: send it in the API-Key header")
    digest = hash_key(key)
    row = conn.execute(
        sa.select(api_keys.c.key_hash, organisations.c.id, organisations.c.name)
        .join(organisations, organisations.c.id == api_keys.c.org_id)
        .where(api_keys.c.prefix == key[:PREFIX_LENGTH], api_keys.c.revoked_at.is_(None))
    ).first()
    # The lookup is by prefix; the comparison of the full hash is constant-time.
    if row is None or not hmac.compare_digest(row.key_hash, digest):
        raise Unauthorized("invalid API key")
    return Organisation(id=row.id, name=row.name)
