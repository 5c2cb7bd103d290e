"""The operation vocabulary: what is queued, what a worker claims, and what prepare and
apply hand on. Plain values, shared by the queue, the worker, the indexes and search."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

Vector = tuple[str, np.ndarray | None]  # (model, vector or None to drop)
# (image pk, kind, model, vector or None to drop): one embedding written by apply.
VectorChange = tuple[int, str, str, np.ndarray | None]


@dataclass(frozen=True)
class NewItem:
    image_id: str
    raw_id: str | int
    body: dict[str, Any] | None


@dataclass(frozen=True)
class NewOperation:
    org_id: int
    method: str
    mode: str
    items: list[NewItem]
    wait: bool = False
    urgent: bool = False
    strict: bool = False
    subset: bool = False
    lang: str = "en"


@dataclass(frozen=True)
class Claimed:
    id: int
    org_id: int
    method: str
    mode: str
    strict: bool
    subset: bool
    lang: str
    attempts: int


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
