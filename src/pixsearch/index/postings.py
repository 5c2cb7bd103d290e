"""The full-text index in memory (SQLite): postings per folded word, BM25 in NumPy.

One slot per organisation: its documents (the rows of `images_fts` of its images) as rows
of arrays (pk, length in words), and per folded word the rows that have it with the
word's weighted frequency (each occurrence counts its column's weight, `WEIGHTS`).
`search` returns every row that has any of the words, scored as FTS5's bm25() scores
(k1 = 1.2, b = 0.75, IDF = ln((N - n + 0.5) / (n + 0.5)), 1e-6 when not positive, the
document's length in words of all columns against the average), with the statistics of
the organisation's own documents, so one organisation's catalogue never moves another's
ranks (FTS5 counts the whole table).

Words are `vocabulary.text.folded_words`, as PostgreSQL's tsvectors have them: case and
accents folded, runs of letters and digits.

It stays exact as `index/vectors.py` does. A slot loads from the database on its first
search; after each committed operation `follow` queues the pks it deleted or wrote
(O(1), on the event loop), and the next search of the slot reads those pks' rows again,
in a fresh read transaction, before it scores: the slot exists and queues before its load
reads, so a write committed after the load's snapshot is queued and one before it is in
the snapshot (reading a pk twice is harmless: its old row is dropped first). Nothing is
kept on disk: after a restart or a crash the slot loads again from the committed rows.

Rows are append-only: a rewritten or deleted document's row gets pk 0 and its new row is
appended, its postings kept beside the sorted ones until they pass a quarter of them,
when dead rows are dropped and the postings sorted again.
"""

from __future__ import annotations

import logging
import math
import re
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray

from pixsearch.db.bulk import chunked
from pixsearch.vocabulary.operations import Applied
from pixsearch.vocabulary.text import fold, folded_words

SEPARATOR = "\x00"
_WORD_OR_SEPARATOR = re.compile(r"[^\W_]+|\x00")  # folded_words' words, or the separator

log = logging.getLogger(__name__)

K1 = 1.2
B = 0.75
MIN_IDF = 1e-6  # FTS5's IDF of a word in more than half the documents
MAX_PENDING = 100_000  # queued pks of a slot nobody searches; past this it is unloaded
REBUILD_MIN = 50_000  # appended postings are merged into the sorted ones past this
LOAD_BATCH = 10_000
COLUMNS = "f.title, f.headline, f.caption, f.alt_text, f.keywords, f.labels"
SELECT_DOCUMENTS = (
    f"SELECT f.rowid, {COLUMNS} FROM images_fts AS f JOIN images ON images.id = f.rowid "
    "WHERE images.org_id = ?"
)


@dataclass(frozen=True)
class Scored:
    """Pks and their BM25 scores (higher is better), in no particular order."""

    pks: NDArray[np.int64]
    scores: NDArray[np.float64]

    @staticmethod
    def empty() -> Scored:
        return Scored(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64))


def word_ids_of(
    texts: list[str], words: dict[str, int]
) -> tuple[NDArray[np.int32], NDArray[np.intp]]:
    """The numbers of the folded words of each text (new words numbered as they come), in
    text order, and how many each text has. One findall over all the texts, folded (ASCII
    only lowered) and joined by NUL, costs far less than one per text."""
    folded = [text.lower() if text.isascii() else fold(text) for text in texts]
    if SEPARATOR in "".join(texts):
        folded = [" ".join(folded_words(text)) for text in texts]
    found = _WORD_OR_SEPARATOR.findall(SEPARATOR.join(folded))
    words[SEPARATOR] = -1  # for this call only: no text has it
    try:
        ids = np.array([words.get(word, -2) for word in found], dtype=np.int32)
    finally:
        del words[SEPARATOR]
    for at in np.flatnonzero(ids == -2).tolist():  # words never seen before
        ids[at] = words.setdefault(found[at], len(words))
    ends = np.append(np.flatnonzero(ids < 0), len(ids))
    counts = np.diff(ends, prepend=-1) - 1
    return ids[ids >= 0], counts


@dataclass(frozen=True)
class Postings:
    """(word, row, weighted frequency) triples, sorted by word, then row."""

    words: NDArray[np.int32]
    rows: NDArray[np.int32]
    frequencies: NDArray[np.float32]

    @staticmethod
    def empty() -> Postings:
        return Postings(np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.float32))

    @staticmethod
    def of_occurrences(
        words: NDArray[np.int32], rows: NDArray[np.int32], weights: NDArray[np.float32]
    ) -> Postings:
        """One triple per (word, row) of the occurrences given, their weights summed."""
        order = np.lexsort((rows, words))
        words, rows, weights = words[order], rows[order], weights[order]
        starts = np.ones(len(words), dtype=bool)
        starts[1:] = (words[1:] != words[:-1]) | (rows[1:] != rows[:-1])
        first = np.flatnonzero(starts)
        if not len(first):
            return Postings.empty()
        return Postings(words[first], rows[first], np.add.reduceat(weights, first))

    @staticmethod
    def joined(parts: list[Postings], alive: NDArray[np.bool_] | None = None) -> Postings:
        """The parts as one, each part's rows after the previous part's; with `alive`,
        without the dead rows and with the live ones numbered again from 0."""
        words = np.concatenate([part.words for part in parts])
        rows = np.concatenate([part.rows for part in parts])
        frequencies = np.concatenate([part.frequencies for part in parts])
        if alive is not None:
            keep = alive[rows]
            renumbered = (np.cumsum(alive) - 1).astype(np.int32)
            words, rows, frequencies = words[keep], renumbered[rows[keep]], frequencies[keep]
        # Rows grow from part to part: a stable sort by word alone keeps them in order.
        order = np.argsort(words, kind="stable")
        return Postings(words[order], rows[order], frequencies[order])

    def of_word(self, word_id: int) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
        # Bounds of the same dtype as `words`: others would have NumPy convert all of it.
        bounds = np.array((word_id, word_id + 1), dtype=self.words.dtype)
        start, end = np.searchsorted(self.words, bounds)
        return self.rows[start:end], self.frequencies[start:end]

    @property
    def nbytes(self) -> int:
        return self.words.nbytes + self.rows.nbytes + self.frequencies.nbytes


class Slot:
    """The documents of one organisation, growing by appends."""

    def __init__(self, org_id: int, weights: Sequence[float]) -> None:
        self.org_id = org_id
        self.weights = tuple(weights)
        self.lock = threading.Lock()  # held while loading, applying changes and scoring
        self.pending_lock = threading.Lock()  # only ever held for a list operation
        self.pending: list[list[int]] = []
        self.pending_count = 0
        self.loaded = False
        self.words: dict[str, int] = {}  # folded word -> its number
        self.pks = np.zeros(0, dtype=np.int64)  # row -> pk, 0 when dead
        self.lengths = np.zeros(0, dtype=np.int32)  # row -> words in all columns
        self.size = 0
        self.live = 0
        self.total_length = 0  # of the live rows
        self.sorted = Postings.empty()  # rows up to the last merge
        self.appended = Postings.empty()  # rows since
        self.norms: NDArray[np.float64] | None = None  # `length_norms`, None after a change

    def enqueue(self, pks: list[int]) -> int:
        """Queue pks to read again; returns how many are queued."""
        with self.pending_lock:
            self.pending.append(pks)
            self.pending_count += len(pks)
            return self.pending_count

    def load(self, engine: sa.Engine) -> None:
        """Read every document of the organisation in one read transaction (`lock` held)."""
        started = time.perf_counter()
        parts = []
        with engine.connect() as conn:
            result = conn.exec_driver_sql(SELECT_DOCUMENTS + " ORDER BY f.rowid", (self.org_id,))
            for rows in result.partitions(LOAD_BATCH):
                parts.append(self.append([(row[0], row[1:]) for row in rows]))
        if parts:
            self.sorted = Postings.joined(parts)  # no dead rows yet: nothing to drop
        self.loaded = True
        log.info(
            "loaded %d documents of organisation %d in %.2f s",
            self.live,
            self.org_id,
            time.perf_counter() - started,
        )

    def apply_pending(self, engine: sa.Engine) -> None:
        """Read the queued pks again, after dropping their rows (`lock` held)."""
        with self.pending_lock:
            batches, self.pending, self.pending_count = self.pending, [], 0
        changed = np.unique(np.fromiter((pk for pks in batches for pk in pks), dtype=np.int64))
        if not len(changed):
            return
        dead = np.flatnonzero(np.isin(self.pks[: self.size], changed))
        self.pks[dead] = 0
        self.norms = None
        self.live -= len(dead)
        self.total_length -= int(self.lengths[dead].sum())
        parts = [self.appended]
        with engine.connect() as conn:
            for part in chunked(changed.tolist()):
                marks = ",".join("?" * len(part))
                result = conn.exec_driver_sql(
                    f"{SELECT_DOCUMENTS} AND f.rowid IN ({marks}) ORDER BY f.rowid",
                    (self.org_id, *part),
                )
                parts.append(self.append([(row[0], row[1:]) for row in result]))
        self.appended = Postings.joined(parts)
        dead_rows = self.size - self.live
        threshold = max(REBUILD_MIN, len(self.sorted.rows) // 4)
        if len(self.appended.rows) > threshold or dead_rows > max(REBUILD_MIN, self.size // 4):
            self.merge()

    def append(self, documents: list[tuple[int, Sequence[str | None]]]) -> Postings:
        """Add documents as new rows; returns their postings."""
        if not documents:
            return Postings.empty()
        end = self.size + len(documents)
        if end > len(self.pks):
            self.grow(int(end * 1.25) + 1024)
        rows = np.arange(self.size, end, dtype=np.int32)
        word_ids, word_rows, weights = [], [], []
        for column, weight in enumerate(self.weights):
            ids, counts = word_ids_of(
                [columns[column] or "" for _, columns in documents], self.words
            )
            word_ids.append(ids)
            word_rows.append(np.repeat(rows, counts))
            weights.append(np.full(len(ids), weight, dtype=np.float32))
        all_rows = np.concatenate(word_rows)
        lengths = np.bincount(all_rows - self.size, minlength=len(documents))
        self.pks[self.size : end] = [pk for pk, _ in documents]
        self.lengths[self.size : end] = lengths
        self.total_length += int(lengths.sum())
        self.size = end
        self.live += len(documents)
        self.norms = None
        return Postings.of_occurrences(np.concatenate(word_ids), all_rows, np.concatenate(weights))

    def grow(self, capacity: int) -> None:
        pks = np.zeros(capacity, dtype=np.int64)
        lengths = np.zeros(capacity, dtype=np.int32)
        pks[: self.size] = self.pks[: self.size]
        lengths[: self.size] = self.lengths[: self.size]
        self.pks, self.lengths = pks, lengths

    def merge(self) -> None:
        """Drop the dead rows and sort every posting by word and row again (`lock` held)."""
        alive = self.pks[: self.size] != 0
        self.sorted = Postings.joined([self.sorted, self.appended], alive)
        self.appended = Postings.empty()
        live = np.flatnonzero(alive)
        spare = len(live) // 8 + 1024
        self.pks = np.concatenate((self.pks[live], np.zeros(spare, dtype=np.int64)))
        self.lengths = np.concatenate((self.lengths[live], np.zeros(spare, dtype=np.int32)))
        self.size = len(live)
        self.norms = None

    def postings(self, word_id: int) -> tuple[NDArray[np.int32], NDArray[np.float64]]:
        """The live rows with the word (in row order) and its weighted frequency in each."""
        rows, frequencies = self.sorted.of_word(word_id)
        more_rows, more_frequencies = self.appended.of_word(word_id)
        if len(more_rows):
            rows = np.concatenate((rows, more_rows))
            frequencies = np.concatenate((frequencies, more_frequencies))
        if self.live < self.size:  # some rows are dead
            alive = self.pks[rows] != 0
            rows, frequencies = rows[alive], frequencies[alive]
        return rows, frequencies.astype(np.float64)

    def score(self, words: list[str]) -> tuple[NDArray[np.int32], NDArray[np.float64]]:
        """The rows with any of the words and their BM25 scores (`lock` held)."""
        if not self.live:
            return np.zeros(0, dtype=np.int32), np.zeros(0)
        norms = self.length_norms()
        parts = []
        for word in words:
            word_id = self.words.get(word)
            if word_id is None:
                continue
            rows, frequencies = self.postings(word_id)
            if not len(rows):
                continue
            idf = math.log((self.live - len(rows) + 0.5) / (len(rows) + 0.5))
            idf = idf if idf > 0.0 else MIN_IDF
            norm = norms[rows]
            parts.append((rows, idf * ((frequencies * (K1 + 1.0)) / (frequencies + norm))))
        if len(parts) <= 1:
            return parts[0] if parts else (np.zeros(0, dtype=np.int32), np.zeros(0))
        # The same additions in the same order as bm25(): each word's part, in query order.
        scores = np.zeros(self.size)
        hit = np.zeros(self.size, dtype=bool)
        for rows, part in parts:
            scores[rows] += part
            hit[rows] = True
        found = np.flatnonzero(hit).astype(np.int32)
        return found, scores[found]

    def length_norms(self) -> NDArray[np.float64]:
        """k1 (1 - b + b |D| / avgdl) of every row, kept until a write changes them."""
        if self.norms is None:
            # No word in any document (images without text): every length is 0, and any
            # average gives the one norm k1 (1 - b) without dividing 0 by 0.
            average = self.total_length / self.live if self.total_length > 0 else 1.0
            lengths = self.lengths[: self.size].astype(np.float64)
            self.norms = K1 * (1 - B + B * lengths / average)
        return self.norms

    def memory_bytes(self) -> int:
        """The arrays and the words (Python strings in a dict)."""
        arrays = self.pks.nbytes + self.lengths.nbytes
        arrays += self.norms.nbytes if self.norms is not None else 8 * self.size
        arrays += self.sorted.nbytes + self.appended.nbytes
        words = sys.getsizeof(self.words) + sum(sys.getsizeof(word) for word in self.words)
        return arrays + words


class PostingsIndex:
    """Every loaded slot of this process; `follow` keeps them in step with the database."""

    def __init__(self, engine: sa.Engine, weights: Sequence[float]) -> None:
        self.engine = engine
        self.weights = tuple(weights)
        self._lock = threading.Lock()
        self._slots: dict[int, Slot] = {}

    def close(self) -> None:
        with self._lock:
            self._slots.clear()

    def follow(self, applied: Applied) -> None:
        """Queue the pks an operation deleted or wrote, if its organisation's slot exists."""
        pks = [*applied.deleted, *applied.changed]
        with self._lock:
            slot = self._slots.get(applied.org_id)
        if slot is not None and pks and slot.enqueue(pks) > MAX_PENDING:
            self.unload(slot)

    def unload(self, slot: Slot) -> None:
        """Forget a slot: its next search loads it again from the database."""
        with self._lock:
            if self._slots.get(slot.org_id) is slot:
                del self._slots[slot.org_id]

    def search(
        self, org_id: int, words: list[str], allowed: NDArray[np.int64] | None = None
    ) -> Scored:
        """Every document of the organisation (within `allowed`) with any of the words."""
        with self._lock:
            slot = self._slots.get(org_id)
            if slot is None:
                # Registered before the load reads: from now on changes are queued.
                slot = self._slots[org_id] = Slot(org_id, self.weights)
        with slot.lock:
            if not slot.loaded:
                slot.load(self.engine)
            slot.apply_pending(self.engine)
            rows, scores = slot.score(words)
            pks = slot.pks[rows]
        if allowed is not None:
            keep = np.isin(pks, allowed)
            pks, scores = pks[keep], scores[keep]
        return Scored(pks, scores)

    def memory_bytes(self, org_id: int) -> int:
        with self._lock:
            slot = self._slots.get(org_id)
        return slot.memory_bytes() if slot is not None else 0
