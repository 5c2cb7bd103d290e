"""The face index: one `image_faces` row per face with an identity (a 128-d descriptor).

Write half (`Faces.replace`, inside the apply transaction): an image's rows are rewritten
whenever its pixels are analysed again; deleting the image cascades. Read half
(`Faces.search`): for each image of the organisation (and of a scope), the smallest
Euclidean distance of one of its faces to one of the query descriptors, when it is within
the threshold. Exact on both engines: SQLite keeps one matrix per (organisation, model) in
memory, following committed operations like the embeddings index; PostgreSQL computes
pgvector's `<->` over the scope's rows in the database, which every process writes.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray

from pixsearch.db.bulk import chunked
from pixsearch.db.tables import image_faces, images
from pixsearch.index.embeddings import PkScope
from pixsearch.index.pgvector import vector_text
from pixsearch.index.vectors import members
from pixsearch.runtimes.identities import distances
from pixsearch.vocabulary.operations import Applied, FaceChange

FaceKey = tuple[int, str]  # (org_id, model)
EXPANDED_SLACK = 0.01  # float32 error of |x|^2 - 2 x.q + |q|^2 is far below this
MAX_PENDING = 20_000  # queued changes of a slot nobody searches; past this it is unloaded


@dataclass(frozen=True)
class FaceMatches:
    """Image pks, the distance of their closest face and that face's number."""

    pks: NDArray[np.int64]
    distances: NDArray[np.float32]
    faces: NDArray[np.int64]

    @staticmethod
    def empty() -> FaceMatches:
        return FaceMatches(
            np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32), np.zeros(0, np.int64)
        )


@dataclass(frozen=True)
class FaceOf:
    """What the image named by a `p~` value has: its face count, whether it was analysed
    with identities of the model, and the descriptor asked (None: too small)."""

    n_faces: int
    analysed: bool
    descriptor: NDArray[np.float32] | None


class Faces(ABC):
    """The face index of one engine."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def replace(self, conn: sa.Connection, org_id: int, changes: list[FaceChange]) -> None:
        """Rewrite the face rows of each image of `changes`."""
        for part in chunked([pk for pk, _, _ in changes]):
            conn.execute(sa.delete(image_faces).where(image_faces.c.image_pk.in_(part)))
        rows = [
            {
                "image_pk": pk,
                "org_id": org_id,
                "n": n,
                "model": model,
                "descriptor": None
                if vector is None
                else np.asarray(vector, dtype=np.float32).tobytes(),
            }
            for pk, model, faces in changes
            for n, vector in faces
        ]
        if rows:
            self.insert(conn, rows)

    def insert(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
        conn.execute(sa.insert(image_faces), rows)

    @abstractmethod
    def search(
        self,
        conn: sa.Connection,
        key: FaceKey,
        queries: list[NDArray[np.float32]],
        max_distance: float,
        scope: PkScope | None,
    ) -> FaceMatches:
        """Images of the slot (and of `scope`) with a face within `max_distance` of a query."""

    def follow(self, applied: Applied) -> None:
        """Learn what a committed operation changed (for indexes held in this process)."""
        return None


class PostgresFaces(Faces):
    """Descriptors with a pgvector column, distances computed in the database."""

    def insert(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            blob = row["descriptor"]
            row["vec"] = None if blob is None else vector_text(np.frombuffer(blob, np.float32))
        conn.execute(
            sa.text(
                "INSERT INTO image_faces (image_pk, org_id, n, model, descriptor, descriptor_vec) "
                "VALUES (:image_pk, :org_id, :n, :model, :descriptor, CAST(:vec AS vector))"
            ),
            rows,
        )

    def search(
        self,
        conn: sa.Connection,
        key: FaceKey,
        queries: list[NDArray[np.float32]],
        max_distance: float,
        scope: PkScope | None,
    ) -> FaceMatches:
        org_id, model = key
        if not queries:
            return FaceMatches.empty()
        parts = [
            sa.literal_column("image_faces.descriptor_vec").op("<->", return_type=sa.Float)(
                sa.literal_column(f"CAST('{vector_text(query)}' AS vector)")
            )
            for query in queries
        ]
        distance = (parts[0] if len(parts) == 1 else sa.func.least(*parts)).label("distance")
        where = [
            image_faces.c.org_id == org_id,
            image_faces.c.model == model,
            sa.literal_column("image_faces.descriptor_vec").is_not(None),
        ]
        if scope is not None:
            where.append(image_faces.c.image_pk.in_(scope.statement))
        # Distances computed once per row (OFFSET 0 keeps the subquery from being merged).
        rows = sa.select(image_faces.c.image_pk, image_faces.c.n, distance).where(*where)
        inner = rows.offset(0).subquery()
        statement = sa.select(inner.c.image_pk, inner.c.n, inner.c.distance).where(
            inner.c.distance <= max_distance
        )
        found = conn.execute(statement).all()
        return closest(
            np.fromiter((r[0] for r in found), np.int64, len(found)),
            np.fromiter((r[2] for r in found), np.float32, len(found)),
            np.fromiter((r[1] for r in found), np.int64, len(found)),
        )


class SQLiteFaces(Faces):
    """Descriptors in the database, searched in memory: one process owns a SQLite file."""

    def __init__(self, engine: sa.Engine) -> None:
        super().__init__(engine)
        self._lock = threading.Lock()
        self._slots: dict[FaceKey, FaceSlot] = {}

    def search(
        self,
        conn: sa.Connection,
        key: FaceKey,
        queries: list[NDArray[np.float32]],
        max_distance: float,
        scope: PkScope | None,
    ) -> FaceMatches:
        pks, faces, matrix, norms = self.snapshot(key)
        pks = pks.copy()  # read once: a tombstone written meanwhile never yields pk 0
        live = pks > 0
        if scope is not None and len(pks):
            live &= members(pks, scope(), int(pks.max()))
        rows = np.flatnonzero(live)
        if not queries or not len(rows):
            return FaceMatches.empty()
        # |x - q|^2 = |x|^2 - 2 x.q + |q|^2: one matrix-vector product per query, no
        # difference matrix. A small scope gathers its rows first.
        block, squares = (
            (matrix, norms) if len(rows) > len(pks) // 3 else (matrix[rows], norms[rows])
        )
        best = np.full(len(block), np.inf, dtype=np.float32)
        for query in queries:
            query = np.asarray(query, dtype=np.float32)
            np.minimum(best, squares - 2 * (block @ query) + float(query @ query), out=best)
        if len(block) == len(pks):
            best = best[rows]
        # The expanded form loses digits near 0 (float32); the few candidates get the
        # distance computed directly, so the very face scores exactly 1.
        candidates = rows[best <= (max_distance + EXPANDED_SLACK) ** 2]
        if not len(candidates):
            return FaceMatches.empty()
        exact = np.min([distances(matrix[candidates], query) for query in queries], axis=0)
        keep = exact <= max_distance
        return closest(pks[candidates][keep], exact[keep], faces[candidates][keep])

    def snapshot(
        self, key: FaceKey
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float32], NDArray[np.float32]]:
        with self._lock:
            slot = self._slots.get(key)
            if slot is None:
                slot = self._slots[key] = FaceSlot(key)  # queues changes from now on
        with slot.lock:
            if not slot.loaded:
                slot.load(self.engine)
            slot.apply_pending()
            size = slot.size
            return slot.pks[:size], slot.faces[:size], slot.matrix[:size], slot.norms[:size]

    def follow(self, applied: Applied) -> None:
        with self._lock:
            slots = [slot for key, slot in self._slots.items() if key[0] == applied.org_id]
        for slot in slots:
            changes: list[FaceChange] = [(pk, slot.key[1], []) for pk in applied.deleted]
            changes += [
                (pk, model, faces if model == slot.key[1] else [])
                for pk, model, faces in applied.faces
            ]
            if changes and slot.enqueue(changes) > MAX_PENDING:
                with self._lock:
                    if self._slots.get(slot.key) is slot:
                        del self._slots[slot.key]


class FaceSlot:
    """The descriptors of one (organisation, model): rows by appends, pk 0 marks a dead row."""

    def __init__(self, key: FaceKey) -> None:
        self.key = key
        self.lock = threading.Lock()
        self.pending_lock = threading.Lock()
        self.pending: list[list[FaceChange]] = []
        self.loaded = False
        self.size = 0
        self.dead = 0
        self.pks = np.zeros(0, dtype=np.int64)
        self.faces = np.zeros(0, dtype=np.int64)
        self.matrix = np.zeros((0, 0), dtype=np.float32)
        self.norms = np.zeros(0, dtype=np.float32)  # squared length of each row

    def enqueue(self, changes: list[FaceChange]) -> int:
        with self.pending_lock:
            self.pending.append(changes)
            return len(self.pending)

    def load(self, engine: sa.Engine) -> None:
        org_id, model = self.key
        statement = sa.select(
            image_faces.c.image_pk, image_faces.c.n, image_faces.c.descriptor
        ).where(
            image_faces.c.org_id == org_id,
            image_faces.c.model == model,
            image_faces.c.descriptor.is_not(None),
        )
        with engine.connect() as conn:
            rows = conn.execute(statement).all()
        self.append([(row[0], row[1], np.frombuffer(row[2], np.float32)) for row in rows])
        self.loaded = True

    def apply_pending(self) -> None:
        """Apply queued changes, the last change of each image winning (with `lock` held)."""
        with self.pending_lock:
            batches, self.pending = self.pending, []
        latest: dict[int, list[tuple[int, np.ndarray | None]]] = {}
        for changes in batches:
            latest.update({pk: faces for pk, _, faces in changes})
        if not latest:
            return
        changed = np.fromiter(latest, dtype=np.int64, count=len(latest))
        dead = np.isin(self.pks[: self.size], changed) & (self.pks[: self.size] > 0)
        self.pks[: self.size][dead] = 0
        self.dead += int(dead.sum())
        self.append(
            [
                (pk, n, vector)
                for pk, faces in latest.items()
                for n, vector in faces
                if vector is not None
            ]
        )
        if self.dead > max(1024, self.size // 4):
            self.compact()

    def append(self, rows: list[tuple[int, int, NDArray[np.float32]]]) -> None:
        if not rows:
            return
        dim = len(rows[0][2])
        end = self.size + len(rows)
        if end > len(self.pks) or self.matrix.shape[1] != dim:
            self.grow(int(end * 1.25) + 1024, dim)
        block = np.stack([np.asarray(v, np.float32) for _, _, v in rows])
        self.matrix[self.size : end] = block
        self.norms[self.size : end] = np.einsum("ij,ij->i", block, block)
        self.pks[self.size : end] = [pk for pk, _, _ in rows]
        self.faces[self.size : end] = [n for _, n, _ in rows]
        self.size = end

    def grow(self, capacity: int, dim: int) -> None:
        """New, larger arrays (never in place: a search may hold the old ones)."""
        live = slice(0, self.size)
        matrix = np.zeros((capacity, dim), dtype=np.float32)
        pks, faces = np.zeros(capacity, np.int64), np.zeros(capacity, np.int64)
        norms = np.zeros(capacity, np.float32)
        if self.size:
            matrix[live], pks[live] = self.matrix[live], self.pks[live]
            faces[live], norms[live] = self.faces[live], self.norms[live]
        self.matrix, self.pks, self.faces, self.norms = matrix, pks, faces, norms

    def compact(self) -> None:
        live = np.flatnonzero(self.pks[: self.size])
        self.matrix, self.pks = self.matrix[live], self.pks[live]
        self.faces, self.norms = self.faces[live], self.norms[live]
        self.size, self.dead = len(live), 0


def closest(
    pks: NDArray[np.int64], distances: NDArray[np.float32], faces: NDArray[np.int64]
) -> FaceMatches:
    """One match per image: its closest face."""
    order = np.lexsort((faces, distances, pks))
    pks, distances, faces = pks[order], distances[order], faces[order]
    first = np.flatnonzero(np.r_[True, pks[1:] != pks[:-1]]) if len(pks) else np.zeros(0, int)
    return FaceMatches(pks[first], distances[first], faces[first])


def face_of(conn: sa.Connection, org_id: int, image_id: str, n: int, model: str) -> FaceOf | None:
    """The organisation's image `image_id`: its face count and face `n`'s descriptor, or
    None when there is no such image."""
    row = conn.execute(
        sa.select(images.c.id, images.c.n_faces).where(
            images.c.org_id == org_id, images.c.image_id == image_id
        )
    ).first()
    if row is None:
        return None
    found = conn.execute(
        sa.select(image_faces.c.descriptor).where(
            image_faces.c.image_pk == row.id, image_faces.c.n == n, image_faces.c.model == model
        )
    ).first()
    blob = None if found is None else found.descriptor
    vector = None if blob is None else np.frombuffer(blob, dtype=np.float32)
    return FaceOf(int(row.n_faces or 0), found is not None, vector)
