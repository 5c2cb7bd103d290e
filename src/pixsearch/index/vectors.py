"""The embeddings index in memory (SQLite): one float32 matrix per (organisation, kind, model).

A slot is loaded from `embeddings` on its first search and then follows the database
through `apply`, the callback the operation engine calls after each committed operation.
The callback runs on the event loop, so it only queues the changes (O(1), never waiting
for a load); the next search of the slot applies them before it reads. That also closes
the race with a lazy load: the slot exists, and queues changes, before the load's read
transaction starts, so a change committed after that snapshot is in the queue, and one
committed before it is in the snapshot (applying it again is harmless: the last change of
a pk wins).

Rows are append-only: a replaced or deleted vector's row gets pk 0 (a tombstone) and a new
vector is appended, so a search that took a snapshot is never disturbed by a writer (it
may see a later tombstone, never a torn row). Dead rows are compacted away, into new
arrays, when they pass a quarter of the slot.

A table from pk to row (int32, -1 for none) finds the rows of a filter's pks in O(pks),
not O(slot); it is kept while the pks are dense enough (at most `DENSE_TABLE_FACTOR` times
the rows), else the rows are found by a pass over the slot. Every row the table names is
checked against the snapshot's pks, so a table updated after the snapshot never lends it a
row it does not hold.

Only vectors of the model named in the key are loaded or kept: a vector written by another
model removes the image from the slot, never mixing two vector spaces.

A search restricted to a set of images (`within`, the pks the scope's filters match)
scores only those rows, so the top k among them is exact at any selectivity: up to
`GATHER_MAX_FRACTION` of the slot the rows are gathered in cache-sized chunks, past it one
full matrix-vector product is cheaper and is masked to them. The filter's pks are computed
before the vectors are scored, in this thread: they come from memory or a quick query.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray

from pixsearch.db.tables import embeddings
from pixsearch.vocabulary.operations import Applied

log = logging.getLogger(__name__)

Key = tuple[int, str, str]  # (org_id, kind, model)
Change = tuple[int, NDArray[np.float32] | None]  # (image pk, new vector or None to remove)
Within = Callable[[], NDArray[np.int64]]
Rows = NDArray[np.integer[Any]]  # row numbers of a slot (int32 from the table, else intp)

# Measured at 100k x 512 (bench/search.py (b')): gathering a row costs 2-3x what the full
# product pays for it, so past about a third of the slot the full product wins.
GATHER_MAX_FRACTION = 0.3
CHUNK_ROWS = 256  # rows gathered at once: 512 KiB at 512 dimensions, stays in L2
DENSE_TABLE_FACTOR = 16  # the pk -> row table costs 4 bytes per pk up to the slot's max
MAX_PENDING = 20_000  # queued changes of a slot nobody searches; past this it is unloaded
COMPACT_MIN_DEAD = 1024  # dead rows are compacted away past this many
COMPACT_DEAD_SHARE = 0.25  # ... and this share of the slot
LOAD_BATCH = 10_000


@dataclass(frozen=True)
class Matches:
    """Image pks and their cosine similarity, in no particular order."""

    pks: NDArray[np.int64]
    scores: NDArray[np.float32]

    @staticmethod
    def empty() -> Matches:
        return Matches(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))

    @staticmethod
    def kept(
        pks: NDArray[np.int64], scores: NDArray[np.float32], keep: NDArray[np.bool_]
    ) -> Matches:
        """The pks and scores where `keep` holds (the arrays themselves when it always does:
        pass arrays of your own, never a slot's)."""
        if keep.all():
            return Matches(pks, scores)
        where = np.flatnonzero(keep)  # then take: several times faster than pks[keep]
        return Matches(pks[where], scores[where])


@dataclass(frozen=True)
class Snapshot:
    """A consistent view of a slot: rows [0, size) of its matrix and pks (0 = dead)."""

    matrix: NDArray[np.float32]
    pks: NDArray[np.int64]
    max_pk: int
    dead: int
    row_of: NDArray[np.int32] | None  # pk -> row (-1: none); None when pks are sparse

    @property
    def size(self) -> int:
        return len(self.pks)

    def rows_of(self, allowed: NDArray[np.int64]) -> tuple[NDArray[np.int64], Rows]:
        """The pks of `allowed` that have a live row (each once), and those rows."""
        allowed = np.asarray(allowed, dtype=np.int64)
        if self.row_of is None:
            pks = self.read_pks()
            found = np.flatnonzero(members(pks, allowed, self.max_pk))
            return pks[found], found
        if len(allowed) > 1 and not (allowed[1:] > allowed[:-1]).all():
            allowed = np.unique(allowed)  # a filter may name an image twice (two spellings)
        # A pk out of range is clipped to one whose row then holds another pk (or none:
        # row_of[0] is -1), so the check below drops it with the stale ones.
        rows: Rows = self.row_of[np.clip(allowed, 0, self.max_pk)]
        held = (rows >= 0) & (rows < self.size)
        if not held.all():
            where = np.flatnonzero(held)
            rows, allowed = rows[where], allowed[where]
        live = self.pks[rows] == allowed  # the table may also be newer than this snapshot
        if not live.all():
            where = np.flatnonzero(live)
            rows, allowed = rows[where], allowed[where]
        return allowed, rows

    def read_pks(self) -> NDArray[np.int64]:
        """The rows' pks, read once: a tombstone written meanwhile never turns a hit into pk 0."""
        return self.pks.copy()

    def search_all(self, query: NDArray[np.float32], threshold: float) -> Matches:
        """Every live row with similarity >= threshold: one matrix-vector product."""
        scores = self.score_all(query)
        pks = self.read_pks()
        keep = scores >= threshold
        keep &= pks != 0
        return Matches.kept(pks, scores, keep)

    def search_within(
        self, query: NDArray[np.float32], threshold: float, allowed: NDArray[np.int64]
    ) -> Matches:
        """The rows of `allowed` with similarity >= threshold: few rows gathered, many by
        the full product masked to them."""
        if len(allowed) > GATHER_MAX_FRACTION * self.size:
            scores = self.score_all(query)
            pks = self.read_pks()
            keep = members(pks, allowed, self.max_pk)
            keep &= scores >= threshold
            return Matches.kept(pks, scores, keep)
        pks, rows = self.rows_of(allowed)
        scores = self.score_rows(query, rows)
        return Matches.kept(pks, scores, scores >= threshold)

    def score_all(self, query: NDArray[np.float32]) -> NDArray[np.float32]:
        """Cosine similarity of every row (the vectors are unit length)."""
        return np.asarray(self.matrix @ query, dtype=np.float32)

    def score_rows(self, query: NDArray[np.float32], rows: Rows) -> NDArray[np.float32]:
        """Cosine similarity of some rows, gathered chunk by chunk into one reused buffer."""
        out = np.empty(len(rows), dtype=np.float32)
        buffer = np.empty((min(CHUNK_ROWS, len(rows)), self.matrix.shape[1]), dtype=np.float32)
        for start in range(0, len(rows), CHUNK_ROWS):
            part = rows[start : start + CHUNK_ROWS]
            block = buffer[: len(part)]
            np.take(self.matrix, part, axis=0, out=block, mode="clip")
            np.dot(block, query, out=out[start : start + len(part)])
        return out


def members(pks: NDArray[np.int64], allowed: NDArray[np.int64], max_pk: int) -> NDArray[np.bool_]:
    """Whether each of `pks` (none above `max_pk`) is in `allowed`; 0, a tombstone, never
    is. A table of booleans by pk: one pass over each array, no sort."""
    table = np.zeros(max_pk + 2, dtype=bool)
    table[np.clip(allowed, 0, max_pk + 1)] = True  # out of range: 0 or max_pk + 1 ...
    table[0] = table[max_pk + 1] = False  # ... which no row matches
    return table[pks]


class Slot:
    """The vectors of one (organisation, kind, model), growing by appends."""

    def __init__(self, key: Key) -> None:
        self.key = key
        self.lock = threading.Lock()  # held while loading and while applying changes
        self.pending_lock = threading.Lock()  # only ever held for a list operation
        self.pending: list[list[Change]] = []
        self.loaded = False
        self.matrix = np.zeros((0, 0), dtype=np.float32)
        self.pks = np.zeros(0, dtype=np.int64)
        self.row_of: NDArray[np.int32] | None = None
        self.size = 0
        self.dead = 0
        self.max_pk = 0

    def enqueue(self, changes: list[Change]) -> int:
        """Queue changes for the next search; returns how many batches are queued."""
        with self.pending_lock:
            self.pending.append(changes)
            return len(self.pending)

    def snapshot(self) -> Snapshot:
        """The current rows (call with `lock` held, after loading)."""
        return Snapshot(
            self.matrix[: self.size], self.pks[: self.size], self.max_pk, self.dead, self.row_of
        )

    def load(self, engine: sa.Engine) -> None:
        """Read every vector of this key in one read transaction (call with `lock` held)."""
        org_id, kind, model = self.key
        where = sa.and_(
            embeddings.c.org_id == org_id, embeddings.c.kind == kind, embeddings.c.model == model
        )
        started = time.perf_counter()
        with engine.connect() as conn:
            count = conn.execute(sa.select(sa.func.count()).where(where)).scalar_one()
            statement = sa.select(embeddings.c.image_pk, embeddings.c.vector).where(where)
            result = conn.execution_options(yield_per=LOAD_BATCH).execute(statement)
            for rows in result.partitions():
                self.append(
                    [(row[0], np.frombuffer(row[1], dtype=np.float32)) for row in rows], count
                )
        self.loaded = True
        log.info(
            "loaded %d vectors of %s in %.2f s", self.size, self.key, time.perf_counter() - started
        )

    def apply_pending(self) -> None:
        """Apply the queued changes, the last change of each pk winning (with `lock` held)."""
        with self.pending_lock:
            batches, self.pending = self.pending, []
        latest: dict[int, NDArray[np.float32] | None] = {}
        for changes in batches:
            latest.update(changes)
        if not latest:
            return
        changed = np.unique(np.fromiter(latest, dtype=np.int64, count=len(latest)))
        gone, rows = self.snapshot().rows_of(changed)
        self.pks[rows] = 0  # first the tombstone, then the table: readers check both
        if self.row_of is not None:
            self.row_of[gone] = -1
        self.dead += len(rows)
        self.append([(pk, vector) for pk, vector in latest.items() if vector is not None])
        if self.dead > max(COMPACT_MIN_DEAD, COMPACT_DEAD_SHARE * self.size):
            self.compact()

    def append(self, rows: list[tuple[int, NDArray[np.float32]]], expected: int = 0) -> None:
        """Add rows at the end, growing the arrays when full (new arrays, never in place)."""
        if not rows:
            return
        dim = self.matrix.shape[1] or len(rows[0][1])
        good = [(pk, vector) for pk, vector in rows if vector.shape == (dim,)]
        if len(good) < len(rows):
            log.warning("%s: %d vectors of the wrong size ignored", self.key, len(rows) - len(good))
        if not good:
            return
        end = self.size + len(good)
        if end > len(self.pks) or self.matrix.shape[1] != dim:
            self.grow(max(end, expected, int(end * 1.25) + 1024), dim)
        pks = np.fromiter((pk for pk, _ in good), dtype=np.int64, count=len(good))
        self.matrix[self.size : end] = np.stack([vector for _, vector in good])
        self.pks[self.size : end] = pks
        self.max_pk = max(self.max_pk, int(pks.max()))
        start, self.size = self.size, end
        if self.row_of is not None and self.max_pk < len(self.row_of):
            self.row_of[pks] = np.arange(start, end, dtype=np.int32)
        else:
            self.rebuild_table()

    def grow(self, capacity: int, dim: int) -> None:
        matrix = np.zeros((capacity, dim), dtype=np.float32)
        pks = np.zeros(capacity, dtype=np.int64)
        if self.size:
            matrix[: self.size] = self.matrix[: self.size]
            pks[: self.size] = self.pks[: self.size]
        self.matrix, self.pks = matrix, pks

    def rebuild_table(self) -> None:
        """A new pk -> row table of the live rows with room to grow, or None if too sparse."""
        span = int(self.max_pk * 1.25) + 1024
        if span > DENSE_TABLE_FACTOR * max(self.size, 1024):
            self.row_of = None
            return
        table = np.full(span, -1, dtype=np.int32)
        live = np.flatnonzero(self.pks[: self.size])
        table[self.pks[live]] = live
        self.row_of = table

    def compact(self) -> None:
        """Rebuild without dead rows (new arrays: snapshots in use keep the old ones)."""
        live = np.flatnonzero(self.pks[: self.size])
        capacity = int(len(live) * 1.25) + 1024
        matrix = np.zeros((capacity, self.matrix.shape[1]), dtype=np.float32)
        pks = np.zeros(capacity, dtype=np.int64)
        matrix[: len(live)] = self.matrix[live]
        pks[: len(live)] = self.pks[live]
        self.matrix, self.pks, self.size, self.dead = matrix, pks, len(live), 0
        self.rebuild_table()


class VectorIndex:
    """Every loaded slot of this process; `apply` keeps them in step with the database."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._slots: dict[Key, Slot] = {}

    def close(self) -> None:
        with self._lock:
            self._slots.clear()

    def loaded_keys(self) -> list[Key]:
        with self._lock:
            return [key for key, slot in self._slots.items() if slot.loaded]

    def apply(self, applied: Applied) -> None:
        """Queue what an operation changed for the loaded slots of its organisation."""
        with self._lock:
            slots = [slot for key, slot in self._slots.items() if key[0] == applied.org_id]
        for slot in slots:
            _, kind, model = slot.key
            changes: list[Change] = [(pk, None) for pk in applied.deleted]
            for pk, vector_kind, vector_model, vector in applied.vectors:
                if vector_kind == kind:
                    keep = vector is not None and vector_model == model
                    changes.append((pk, np.asarray(vector, dtype=np.float32) if keep else None))
            if changes and slot.enqueue(changes) > MAX_PENDING:
                self.unload(slot)

    def unload(self, slot: Slot) -> None:
        """Forget a slot: the next search loads it again from the database."""
        with self._lock:
            if self._slots.get(slot.key) is slot:
                del self._slots[slot.key]

    def snapshot(self, key: Key) -> Snapshot:
        """The slot's rows with every finished operation applied, loading it if needed."""
        with self._lock:
            slot = self._slots.get(key)
            if slot is None:
                # Registered before the load reads: from now on changes are queued.
                slot = self._slots[key] = Slot(key)
        with slot.lock:
            if not slot.loaded:
                slot.load(self.engine)
            slot.apply_pending()
            return slot.snapshot()

    def search(
        self,
        key: Key,
        query: NDArray[np.float32],
        threshold: float,
        within: Within | None = None,
    ) -> Matches:
        """Every image of the slot (and of `within`, when given: pks in any order, best
        sorted and unique) with similarity >= threshold."""
        snap = self.snapshot(key)
        query = np.asarray(query, dtype=np.float32).reshape(-1)
        if snap.size == 0:
            return Matches.empty()
        if query.shape[0] != snap.matrix.shape[1]:
            raise ValueError(
                f"query has {query.shape[0]} dimensions, {key} has {snap.matrix.shape[1]}"
            )
        if within is None:
            return snap.search_all(query, threshold)
        return snap.search_within(query, threshold, within())
