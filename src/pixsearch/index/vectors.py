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
vector is appended, so a search that took a snapshot is never disturbed by a writer. Dead
rows are compacted away when they pass a quarter of the slot.

Only vectors of the model named in the key are loaded or kept: a vector written by another
model removes the image from the slot, never mixing two vector spaces.

A search restricted to a set of images (`within`, the pks a SQL filter matches) scores only
those rows, so the top k among them is exact at any selectivity: a few rows are gathered
in cache-sized chunks; past `GATHER_MAX_FRACTION` of the slot one full matrix-vector
product is cheaper. The SQL query runs in a helper thread while this thread waits a little
and then, if it is slow (a large result), computes the full product beside it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray

from pixsearch.db.tables import embeddings
from pixsearch.vocabulary.operations import Applied

log = logging.getLogger(__name__)

Key = tuple[int, str, str]  # (org_id, kind, model)
Change = tuple[int, NDArray[np.float32] | None]  # (image pk, new vector or None to remove)
Within = Callable[[], NDArray[np.int64]]

GATHER_MAX_FRACTION = 0.35  # gathering costs ~2.5x per row what a sequential scan does
CHUNK_ROWS = 2048  # rows gathered at once: 4 MiB at 512 dimensions, stays in cache
MAX_PENDING = 20_000  # queued changes of a slot nobody searches; past this it is unloaded
COMPACT_MIN_DEAD = 1024  # dead rows are compacted away past this and a quarter of the slot
LOAD_BATCH = 10_000
# The share of a full product's expected time to wait for the filter's pks before
# computing the full product beside the query.
WAIT_SHARE = 0.25
FIRST_SECONDS_PER_VALUE = 3e-10  # a guess until the first full product is timed


@dataclass(frozen=True)
class Matches:
    """Image pks and their cosine similarity, in no particular order."""

    pks: NDArray[np.int64]
    scores: NDArray[np.float32]

    @staticmethod
    def empty() -> Matches:
        return Matches(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))


@dataclass(frozen=True)
class Snapshot:
    """A consistent view of a slot: rows [0, size) of its matrix and pks (0 = dead)."""

    matrix: NDArray[np.float32]
    pks: NDArray[np.int64]
    max_pk: int
    dead: int

    @property
    def size(self) -> int:
        return len(self.pks)

    def live_rows(self) -> NDArray[np.intp]:
        return np.flatnonzero(self.pks)

    def rows_of(self, allowed: NDArray[np.int64]) -> NDArray[np.intp]:
        """The rows whose pk is in `allowed`, in row order (a lookup table, O(n + m))."""
        allowed = allowed[(allowed > 0) & (allowed <= self.max_pk)]
        table = np.zeros(self.max_pk + 1, dtype=bool)
        table[allowed] = True  # table[0] stays False: tombstones never match
        return np.flatnonzero(table[self.pks])

    def score_all(self, query: NDArray[np.float32]) -> NDArray[np.float32]:
        """Cosine similarity of every row (the vectors are unit length)."""
        return np.asarray(self.matrix @ query, dtype=np.float32)

    def score_rows(self, query: NDArray[np.float32], rows: NDArray[np.intp]) -> NDArray[np.float32]:
        """Cosine similarity of some rows, gathered chunk by chunk into one reused buffer."""
        out = np.empty(len(rows), dtype=np.float32)
        buffer = np.empty((min(CHUNK_ROWS, len(rows)), self.matrix.shape[1]), dtype=np.float32)
        for start in range(0, len(rows), CHUNK_ROWS):
            part = rows[start : start + CHUNK_ROWS]
            block = buffer[: len(part)]
            np.take(self.matrix, part, axis=0, out=block, mode="clip")
            np.dot(block, query, out=out[start : start + len(part)])
        return out


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
        return Snapshot(self.matrix[: self.size], self.pks[: self.size], self.max_pk, self.dead)

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
        changed = np.fromiter(latest, dtype=np.int64, count=len(latest))
        rows = self.snapshot().rows_of(changed)
        self.pks[rows] = 0
        self.dead += len(rows)
        self.append([(pk, vector) for pk, vector in latest.items() if vector is not None])
        if self.dead > max(COMPACT_MIN_DEAD, self.size // 4):
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
        self.matrix[self.size : end] = np.stack([vector for _, vector in good])
        self.pks[self.size : end] = [pk for pk, _ in good]
        self.max_pk = max(self.max_pk, max(pk for pk, _ in good))
        self.size = end

    def grow(self, capacity: int, dim: int) -> None:
        matrix = np.zeros((capacity, dim), dtype=np.float32)
        pks = np.zeros(capacity, dtype=np.int64)
        if self.size:
            matrix[: self.size] = self.matrix[: self.size]
            pks[: self.size] = self.pks[: self.size]
        self.matrix, self.pks = matrix, pks

    def compact(self) -> None:
        """Rebuild without dead rows (new arrays: snapshots in use keep the old ones)."""
        live = np.flatnonzero(self.pks[: self.size])
        capacity = int(len(live) * 1.25) + 1024
        matrix = np.zeros((capacity, self.matrix.shape[1]), dtype=np.float32)
        pks = np.zeros(capacity, dtype=np.int64)
        matrix[: len(live)] = self.matrix[live]
        pks[: len(live)] = self.pks[live]
        self.matrix, self.pks, self.size, self.dead = matrix, pks, len(live), 0


class VectorIndex:
    """Every loaded slot of this process; `apply` keeps them in step with the database."""

    def __init__(self, engine: sa.Engine, *, threads: int = 4) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._slots: dict[Key, Slot] = {}
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="vector-filter")
        self._seconds_per_value = FIRST_SECONDS_PER_VALUE

    def close(self) -> None:
        self._executor.shutdown(wait=True)
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
        """Every image of the slot (and of `within`, when given) with similarity >= threshold."""
        snap = self.snapshot(key)
        query = np.asarray(query, dtype=np.float32).reshape(-1)
        if snap.size == 0:
            return Matches.empty()
        if query.shape[0] != snap.matrix.shape[1]:
            raise ValueError(
                f"query has {query.shape[0]} dimensions, {key} has {snap.matrix.shape[1]}"
            )
        if within is None:
            scores = self.score_all(snap, query)
            rows = snap.live_rows() if snap.dead else np.arange(snap.size)
            scores = scores[rows] if snap.dead else scores
        else:
            rows, scores = self.score_within(snap, query, within)
        keep = scores >= threshold
        return Matches(snap.pks[rows[keep]], scores[keep])

    def score_all(self, snap: Snapshot, query: NDArray[np.float32]) -> NDArray[np.float32]:
        """The full product, timed to learn how long waiting for a filter may take."""
        started = time.perf_counter()
        scores = snap.score_all(query)
        if snap.size >= 10_000:
            per_value = (time.perf_counter() - started) / (snap.size * snap.matrix.shape[1])
            self._seconds_per_value = 0.8 * self._seconds_per_value + 0.2 * per_value
        return scores

    def score_within(
        self, snap: Snapshot, query: NDArray[np.float32], within: Within
    ) -> tuple[NDArray[np.intp], NDArray[np.float32]]:
        """Rows of the pks `within` returns, and their scores."""
        future = self._executor.submit(within)
        full: NDArray[np.float32] | None = None
        wait_s = WAIT_SHARE * self._seconds_per_value * snap.size * snap.matrix.shape[1]
        try:
            allowed = future.result(timeout=wait_s)
        except FutureTimeout:
            try:
                full = self.score_all(snap, query)  # beside the SQL query, not after it
            finally:
                wait([future])  # the query uses the caller's connection: never leave it running
            allowed = future.result()
        rows = snap.rows_of(allowed)
        if full is None and len(rows) > GATHER_MAX_FRACTION * snap.size:
            full = self.score_all(snap, query)
        scores = full[rows] if full is not None else snap.score_rows(query, rows)
        return rows, scores
