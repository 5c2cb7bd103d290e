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
    CEL_ADD = "cel_add"  # named people (`/celebs`): register or extend (the column is 8 wide)
    CEL_PUT = "cel_put"  # ... replace the example faces
    CEL_DEL = "cel_del"  # ... remove


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
    Mode.CEL_ADD: Method.ADD,
    Mode.CEL_PUT: Method.UPD,
    Mode.CEL_DEL: Method.DEL,
}
REEMBED_MODES = (Mode.REEMBED, Mode.CAPTION)
# Operations on named people: no pixels, applied by `celebs.service`; `resource: "celebs"`.
CELEB_MODES = (Mode.CEL_ADD, Mode.CEL_PUT, Mode.CEL_DEL)

Vector = tuple[str, np.ndarray | None]  # (model, vector or None to drop)
# (image pk, kind, model, vector or None to drop): one embedding written by apply.
VectorChange = tuple[int, str, str, np.ndarray | None]
# (image pk, face model, (face number, descriptor or None when too small) of each face): an
# image's faces as apply wrote them; an empty list removes them.
FaceChange = tuple[int, str, list[tuple[int, np.ndarray | None]]]


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
    org: str  # the organisation's name, for log lines and per-organisation metrics
    created_at: int  # ms, as every timestamp of `operations`
    started_at: int
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
    cause: str | None = None  # why it failed: one of errors.ITEM_CAUSES
    values: dict[str, Any] | None = None  # computed columns, when the pixels were analysed
    vectors: dict[str, Vector] = field(default_factory=dict)  # kind -> (model, vector)
    # (face model, [(face number, descriptor or None)]) when face identities were computed.
    faces: tuple[str, list[tuple[int, np.ndarray | None]]] | None = None


@dataclass(frozen=True)
class Failure:
    """One failed item: its id as the request gave it, the message, and its cause."""

    raw_id: str | int
    msg: str
    cause: str


@dataclass
class Applied:
    """What changed, for the in-memory indexes that follow the database after commit,
    and what became of each item, for the metrics and the log."""

    org_id: int
    deleted: list[int] = field(default_factory=list)
    # pks of images inserted or whose stored fields changed in this operation
    changed: list[int] = field(default_factory=list)
    vectors: list[VectorChange] = field(default_factory=list)
    faces: list[FaceChange] = field(default_factory=list)
    finished: bool = True
    # items by outcome: applied, skipped (nothing to do), failed, discarded (fine, but not
    # applied because another item failed under all-or-nothing)
    outcomes: dict[str, int] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
