"""The operation vocabulary: what is queued, what a worker claims, and what prepare and
apply hand on. Plain values, shared by the queue, the worker, the indexes and search."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np


class Method(StrEnum):
    """What an operation does, as the contract names it."""

    ADD = "add"
    UPD = "upd"
    DEL = "del"


class Mode(StrEnum):
    """How an operation's items apply: the write that made it, or a re-embedding."""

    ADD = "add"
    PUT = "put"
    PATCH = "patch"
    DEL = "del"
    REEMBED = "reembed"  # `pixsearch models reembed`: fetch again
    CAPTION = "caption"  # ... or only embed the caption again


class State(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"


class Action(StrEnum):
    """What one item does, decided from the image's current state (`operations.plan`)."""

    INSERT = "insert"
    REPLACE = "replace"
    PATCH = "patch"
    DELETE = "delete"
    REEMBED = "reembed"
    SKIP = "skip"
    FAIL = "fail"


METHOD_OF_MODE = {
    Mode.ADD: Method.ADD,
    Mode.PUT: Method.UPD,
    Mode.PATCH: Method.UPD,
    Mode.DEL: Method.DEL,
    Mode.REEMBED: Method.UPD,
    Mode.CAPTION: Method.UPD,
}
REEMBED_MODES = (Mode.REEMBED, Mode.CAPTION)

Vector = tuple[str, np.ndarray | None]  # (model, vector or None to drop)
# (image pk, kind, model, vector or None to drop): one embedding written by apply.
VectorChange = tuple[int, str, str, np.ndarray | None]


@dataclass(frozen=True)
class NewItem:
    image_id: str
    raw_id: str | int
    body: dict[str, Any] | None


@dataclass(frozen=True)
class IdempotencyKey:
    """An operation's Idempotency-Key: the key, what the request asked for, how long."""

    key: str
    fingerprint: str  # SHA-256 of the request; the same key must come with the same
    retention_ms: int


@dataclass(frozen=True)
class NewOperation:
    org_id: int
    method: Method
    mode: Mode
    items: list[NewItem]
    wait: bool = False
    urgent: bool = False
    strict: bool = False
    subset: bool = False
    lang: str = "en"
    idempotency: IdempotencyKey | None = None


@dataclass(frozen=True)
class Claimed:
    id: int
    org_id: int
    method: Method
    mode: Mode
    strict: bool
    subset: bool
    lang: str
    attempts: int  # runs started, this one included
    failures: int = 0  # earlier runs that failed with an unexpected error
    crashes: int = 0  # process deaths blamed on it
    isolated: bool = False  # runs alone in its process


@dataclass(frozen=True)
class Item:
    seq: int
    image_id: str
    raw_id: str | int
    body: dict[str, Any] | None


@dataclass
class Prepared:
    """What prepare learnt about one item: its analysis, or why it failed."""

    error: str | None = None
    values: dict[str, Any] | None = None  # computed columns, when the pixels were analysed
    vectors: dict[str, Vector] = field(default_factory=dict)  # kind -> (model, vector)


@dataclass
class Applied:
    """What changed, for the in-memory indexes that follow the database after commit."""

    org_id: int
    deleted: list[int] = field(default_factory=list)
    vectors: list[VectorChange] = field(default_factory=list)
    finished: bool = True
