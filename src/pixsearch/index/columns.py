"""The column index in memory (SQLite): per organisation, the filterable, sortable and
facetable fields of `images` and `image_terms` as NumPy columns.

Every scalar field (labels, booleans, date, orientation, the computed numbers) is
dictionary-encoded: a row holds an int32 code, 0 for a missing value, and the field's
`Dictionary` holds each distinct value once (with its folded form, for folded equality). A
filter on one field is decided once per distinct value, and the rows of the codes that
pass come from per-code row lists (or one pass over the codes when they are many), so
`city=Paris` never folds a row nor reads another city's. The set-term fields (keywords, categories,
collections, tags) are lists of (row, folded term, spelling) entries, sorted by row: a
term's rows, or a hit's terms for a facet, are slices of arrays (`index.encoding`). Each
row also keeps its result fields (`RESULT_FIELDS`, as `read_page` renders them) marshalled
into one bytes object, so that a page of results is rendered from memory: 50 rows read from
SQLite cost a search about 0.7 ms more after a product or a facet count had evicted the CPU
caches (docs/performance.md). `PIXSEARCH_RESULTS_IN_MEMORY=false` keeps no documents, and
pages are read from SQLite.

A slot is loaded from the database on an organisation's first search and then follows
it like `index.vectors`: `follow`, called after each committed operation, only queues the
pks the operation deleted or wrote (O(1), on the event loop); the next search re-reads
those rows by pk in a fresh transaction, after draining the queue, so it sees at least
what the queued operations committed. The slot exists, and queues, before its load reads,
so a commit after the load's snapshot is queued and one before it is in the snapshot
(re-reading a row is harmless). A changed row is appended again and its old row becomes a
tombstone (pk 0); tombstones are compacted away past a quarter of the slot. Searches read
a slot under its lock, so a row never changes under one.
"""

from __future__ import annotations

import logging
import marshal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray

from pixsearch.db.bulk import chunked
from pixsearch.db.dialect import plain_select
from pixsearch.db.tables import image_terms, images
from pixsearch.index.encoding import (
    MISSING_RANK,
    Codes,
    Dictionary,
    Grown,
    Mask,
    Processor,
    Rows,
    Terms,
    top_counts,
)
from pixsearch.vocabulary.fields import BOOL_FIELDS, LABEL_FIELDS, RESULT_FIELDS, TERM_FIELDS
from pixsearch.vocabulary.operations import Applied

log = logging.getLogger(__name__)

# Dictionary-encoded fields: filters, facets and sorts answered from memory.
CODED_FIELDS = (
    *LABEL_FIELDS,
    *BOOL_FIELDS,
    "date",
    "orientation",
    "width",
    "height",
    "aspect_ratio",
    "n_faces",
)
SORTED_FIELDS = (*CODED_FIELDS, "created_at")
MAX_PENDING = 20_000  # queued pks of a slot nobody searches; past this it is unloaded
COMPACT_MIN_DEAD = 1024
LOAD_BATCH = 20_000
MAX_LISTED_CODES = 256  # past this many passing codes, one pass over the codes is quicker


class Selection:
    """Some live rows of a slot, as a mask and as row numbers (in no order): whichever was
    not given is made once, when first asked. Ranked hits come as pks, so as rows; a
    formula's answer comes as a mask."""

    def __init__(self, alive: Mask, *, mask: Mask | None = None, rows: Rows | None = None) -> None:
        assert (mask is None) != (rows is None)
        self.alive = alive
        self._mask = None if mask is None else mask & alive
        self._rows = rows

    @property
    def mask(self) -> Mask:
        if self._mask is None:
            assert self._rows is not None
            self._mask = np.zeros(len(self.alive), dtype=bool)
            self._mask[self._rows] = True
        return self._mask

    @property
    def rows(self) -> Rows:
        if self._rows is None:
            self._rows = np.flatnonzero(self.mask)
        return self._rows

    @property
    def has_rows(self) -> bool:
        return self._rows is not None

    def count(self) -> int:
        return len(self._rows) if self._rows is not None else int(np.count_nonzero(self.mask))


class Slot:
    """The columns of one organisation, growing by appends."""

    def __init__(self, org_id: int, processors: dict[str, Processor]) -> None:
        self.org_id = org_id
        self.lock = threading.Lock()  # held while loading, applying changes and reading
        self.pending_lock = threading.Lock()  # only ever held for a list operation
        self.pending: list[list[int]] = []
        self.queued = 0
        self.loaded = False
        self.pks = Grown(np.int64)  # 0: a dead row
        self.created = Grown(np.int64)
        self.codes = {name: Grown(np.int32) for name in CODED_FIELDS}
        self.dictionaries = {name: Dictionary(processors[name]) for name in CODED_FIELDS}
        self.terms = {name: Terms() for name in TERM_FIELDS}
        self.row_of = np.full(1024, -1, dtype=np.int32)  # by pk; -1: not here
        self.documents: list[bytes] = []  # by row, unless the index keeps none
        self.document_bytes = 0
        self.dead = 0
        self._alive: tuple[int, Mask] | None = None  # (changes seen, mask)
        self._totals: dict[str, tuple[int, NDArray[np.int64]]] = {}  # by term field
        # By coded field: (rows covered, rows by code, where each code's rows start).
        self._postings: dict[str, tuple[int, NDArray[np.intp], NDArray[np.intp]]] = {}
        self._changes = 0

    @property
    def size(self) -> int:
        return self.pks.size

    def nbytes(self) -> int:
        """The memory the slot holds: its arrays, plus an estimate for the dictionaries."""
        arrays = [self.pks, self.created, *self.codes.values()]
        for terms in self.terms.values():
            arrays += [terms.rows, terms.codes, terms.spelled]
        total = sum(grown.data.nbytes for grown in arrays) + self.row_of.nbytes
        dictionaries = [*self.dictionaries.values()]
        for terms in self.terms.values():
            dictionaries += [terms.norms, terms.spellings]
        # a value in a list and a dict, and the value itself: about 150 bytes
        total += 150 * sum(len(dictionary) for dictionary in dictionaries)
        return total + self.document_bytes

    def enqueue(self, pks: list[int]) -> int:
        with self.pending_lock:
            self.pending.append(pks)
            self.queued += len(pks)
            return self.queued

    # --- reading (with `lock` held) -----------------------------------------------------

    def alive(self) -> Mask:
        """The live rows."""
        if self._alive is None or self._alive[0] != self._changes:
            self._alive = (self._changes, self.pks.view() != 0)
        return self._alive[1]

    def rows_with(self, name: str, passes: Mask) -> Mask:
        """The rows whose code of `name` passes: from the code's row lists when they are
        few (an index lookup), else one pass over the codes."""
        codes = self.column(name)
        covered, order, starts = self.postings(name)
        wanted = np.flatnonzero(passes[: len(starts) - 1])
        rows = int((starts[wanted + 1] - starts[wanted]).sum())
        if rows * 8 > self.size or len(wanted) > MAX_LISTED_CODES:
            return passes[codes]
        mask = np.zeros(self.size, dtype=bool)
        for code in wanted.tolist():
            mask[order[starts[code] : starts[code + 1]]] = True
        mask[covered:] = passes[codes[covered:]]  # rows appended since the lists were made
        return mask

    def postings(self, name: str) -> tuple[int, NDArray[np.intp], NDArray[np.intp]]:
        """The rows of each code, sorted once; rows appended later are looked up by code
        until they pass an eighth of the slot. Rows never change code (a changed image is
        a new row), so the lists stay right; compaction renumbers rows and drops them."""
        cached = self._postings.get(name)
        if cached is None or self.size - cached[0] > max(1024, self.size // 8):
            codes = self.column(name)
            order = np.argsort(codes, kind="stable")
            starts = np.searchsorted(codes[order], np.arange(len(self.dictionaries[name]) + 1))
            cached = self._postings[name] = (self.size, order, starts)
        return cached

    def column(self, name: str) -> Codes:
        return self.codes[name].view()

    def rows_of(self, pks: NDArray[np.int64]) -> Rows:
        """The live rows of the given pks (unknown pks are left out), in no order."""
        pks = pks[(pks > 0) & (pks < len(self.row_of))]
        rows = self.row_of[pks]
        return np.asarray(rows[rows >= 0], dtype=np.intp)

    def results(self, pks: Sequence[int], fields: tuple[str, ...]) -> dict[int, dict[str, Any]]:
        """The rendered rows of those pks that are live here (`fields` among
        `RESULT_FIELDS`), by pk: each a new dict, as `images.service.read_page` gives."""
        wanted = np.asarray(pks, dtype=np.int64)
        rows = np.full(len(wanted), -1, dtype=np.int64)
        inside = (wanted > 0) & (wanted < len(self.row_of))
        rows[inside] = self.row_of[wanted[inside]]
        every = fields == RESULT_FIELDS  # the default: one zip, no projection
        shown = [(name, RESULT_AT[name]) for name in dict.fromkeys(fields)]
        found = {}
        for pk, row in zip(pks, rows.tolist(), strict=True):
            if row >= 0:
                values = marshal.loads(self.documents[row])
                found[pk] = (
                    dict(zip(RESULT_FIELDS, values, strict=True))
                    if every
                    else {name: values[at] for name, at in shown}
                )
        return found

    def mask_of(self, pks: NDArray[np.int64]) -> Mask:
        mask = np.zeros(self.size, dtype=bool)
        mask[self.rows_of(pks)] = True
        return mask

    def of_pks(self, pks: NDArray[np.int64]) -> Selection:
        """The live rows of the pks (each pk is unique)."""
        return Selection(self.alive(), rows=self.rows_of(pks))

    def of_mask(self, mask: Mask) -> Selection:
        """The live rows of the mask."""
        return Selection(self.alive(), mask=mask)

    def pks_of(self, mask: Mask) -> NDArray[np.int64]:
        """The pks of the rows in `mask`, sorted (rows are in pk order until images change)."""
        rows = mask & self.alive()
        if bool(rows.all()):
            pks = self.pks.view().copy()
        else:  # flatnonzero + take: a boolean mask of random rows indexes 4x slower
            pks = self.pks.view().take(np.flatnonzero(rows))
        return pks if bool(np.all(pks[1:] > pks[:-1])) else np.sort(pks)

    def term_mask(self, field: str, norms: Mask) -> Mask:
        """Rows with a term of `field` whose folded code is in `norms` (a lookup by code)."""
        mask = np.zeros(self.size, dtype=bool)
        mask[self.terms[field].rows_having(norms)] = True
        return mask

    def sort_keys(self, name: str, rows: Rows, case_insensitive: bool) -> NDArray[np.int64]:
        if name == "created_at":
            return self.created.view()[rows]
        ranks = self.dictionaries[name].ranks(case_insensitive)
        return ranks[self.column(name)[rows]]

    def top(
        self,
        selection: Selection,
        name: str,
        descending: bool,
        count: int,
        *,
        case_insensitive: bool,
    ) -> NDArray[np.int64]:
        """The pks of the first `count` rows of `selection` ordered by the field, missing
        values last, ties by pk in the same direction."""
        rows = selection.rows
        if count <= 0 or len(rows) == 0:
            return np.zeros(0, dtype=np.int64)
        keys = self.sort_keys(name, rows, case_insensitive)
        pks = self.pks.view()[rows]
        if descending:
            keys = np.where(keys == MISSING_RANK, MISSING_RANK, -keys)
            pks = -pks
        if count < len(rows):
            kth = np.partition(keys, count - 1)[count - 1]
            close = keys <= kth  # ties at the boundary all stay: the pk decides among them
            keys, pks = keys[close], pks[close]
        order = np.lexsort((pks, keys))[:count]
        return np.asarray(np.abs(pks[order]), dtype=np.int64)

    def scalar_facet(
        self, name: str, selection: Selection, limit: int, case_insensitive: bool
    ) -> list[tuple[Any, int]]:
        """Most frequent values among the rows first, then by value (ignoring ASCII case
        for text), as SQL's GROUP BY over the rows."""
        column = self.column(name)
        codes = column[selection.rows] if selection.has_rows else column[selection.mask]
        dictionary = self.dictionaries[name]
        counts = np.bincount(codes, minlength=len(dictionary))
        counts[0] = 0  # missing values are no facet value
        keys = [dictionary.ranks(False)]  # the last key decides last
        if case_insensitive:
            keys.append(dictionary.ranks(True))
        return [(dictionary.values[code], count) for code, count in top_counts(counts, keys, limit)]

    def term_facet(self, field: str, selection: Selection, limit: int) -> list[tuple[str, int]]:
        """Most frequent folded terms among the rows, then by folded term, each shown by
        its smallest spelling among them."""
        terms = self.terms[field]
        live = self.alive()
        if selection.count() * 2 > np.count_nonzero(live):
            # Most rows are hits: count the others and subtract from every live row's.
            others = self.of_mask(~selection.mask)
            counts = self.term_totals(field) - self.term_counts(terms, others)
        else:
            counts = self.term_counts(terms, selection)
        chosen = top_counts(counts, [terms.norms.ranks(False)], limit)
        entries: list[NDArray[np.intp]] = []  # the hits' entries, only for two spellings

        def hit_entries() -> NDArray[np.intp]:
            if not entries:
                entries.append(np.flatnonzero(selection.mask[terms.rows.view()]))
            return entries[0]

        return [(terms.display(code, hit_entries), count) for code, count in chosen]

    def term_counts(self, terms: Terms, selection: Selection) -> NDArray[np.int64]:
        """How many of the rows have each folded term: by row offsets for few rows, else
        through every entry."""
        if selection.count() * 4 < self.size:
            codes = terms.codes.view()[terms.entries_of_rows(selection.rows, self.size)]
        else:
            codes = terms.codes.view()[selection.mask[terms.rows.view()]]
        return np.bincount(codes, minlength=len(terms.norms))

    def term_totals(self, field: str) -> NDArray[np.int64]:
        """How many live rows have each folded term (kept until the slot changes)."""
        terms = self.terms[field]
        cached = self._totals.get(field)
        if cached is None or cached[0] != self._changes or len(cached[1]) != len(terms.norms):
            everything = self.of_mask(self.alive())
            cached = self._totals[field] = (self._changes, self.term_counts(terms, everything))
        return cached[1]

    # --- writing (with `lock` held) -----------------------------------------------------

    def append(self, rows: Sequence[Sequence[Any]], documents: list[bytes] | None) -> None:
        """Add driver rows (`ROW_COLUMNS` first) and their documents
        (`ColumnIndex.documents`), or None if the index keeps none; a pk's terms follow with
        `append_terms`."""
        if not rows:
            return
        assert documents is None or len(documents) == len(rows)
        first = self.size
        columns = list(zip(*rows, strict=True))[: len(ROW_COLUMNS)]
        pks = np.array(columns[0], dtype=np.int64)
        self.pks.extend(pks)
        self.created.extend(np.array(columns[1], dtype=np.int64))
        for name, values in zip(CODED_FIELDS, columns[2:], strict=True):
            self.codes[name].extend(self.dictionaries[name].encode(values))
        top = int(pks.max())
        if top >= len(self.row_of):
            grown = np.full(max(top + 1, 2 * len(self.row_of)), -1, dtype=np.int32)
            grown[: len(self.row_of)] = self.row_of
            self.row_of = grown
        self.row_of[pks] = np.arange(first, self.size)
        if documents is not None:
            self.documents.extend(documents)
            self.document_bytes += document_bytes(documents)
        self._changes += 1

    def append_terms(self, field: str, rows: Sequence[Sequence[Any]]) -> None:
        """Add (image pk, value, folded value) driver rows of one field, ascending by pk,
        of images appended since this field's last terms."""
        if not rows:
            return
        pks, values, folded = zip(*rows, strict=True)
        at = self.row_of[np.array(pks, dtype=np.int64)].astype(np.int64)
        known = at >= 0  # terms of an image of another organisation never come; be safe
        if not known.all():
            keep = np.flatnonzero(known).tolist()
            values, folded = tuple(values[i] for i in keep), tuple(folded[i] for i in keep)
            at = at[known]
        self.terms[field].append(at, values, folded)

    def remove(self, pks: NDArray[np.int64]) -> None:
        rows = self.rows_of(pks)
        self.pks.data[rows] = 0
        self.row_of[pks[(pks > 0) & (pks < len(self.row_of))]] = -1
        self.dead += len(rows)
        self._changes += 1

    def compact(self) -> None:
        """Rebuild without dead rows (entries keep their row order)."""
        live = np.flatnonzero(self.pks.view())
        new_row = np.full(self.size, -1, dtype=np.int64)
        new_row[live] = np.arange(len(live))
        for grown in (self.pks, self.created, *self.codes.values()):
            grown.keep(live)
        for terms in self.terms.values():
            terms.renumber(new_row)
        if self.documents:
            self.documents = [self.documents[row] for row in live.tolist()]
            self.document_bytes = document_bytes(self.documents)
        self.row_of[:] = -1
        self.row_of[self.pks.view()] = np.arange(len(live))
        self._postings.clear()
        self.dead = 0
        self._changes += 1


# The columns `Slot.append` reads by position, first of the columns read for each row; then
# the result fields that are not among them, for the row's document.
ROW_COLUMNS = ("id", "created_at", *CODED_FIELDS)
READ_COLUMNS = (*ROW_COLUMNS, *(name for name in RESULT_FIELDS if name not in ROW_COLUMNS))
_SELECT_ROWS = sa.select(*(images.c[name] for name in READ_COLUMNS))
_SELECT_CODED = sa.select(*(images.c[name] for name in ROW_COLUMNS))  # without documents
# Where each result field is in a document, and where its value is in a row read.
RESULT_AT = {name: at for at, name in enumerate(RESULT_FIELDS)}
_READ_AT = tuple(READ_COLUMNS.index(name) for name in RESULT_FIELDS)
_SELECT_TERMS = sa.select(image_terms.c.image_pk, image_terms.c.value, image_terms.c.value_norm)


def document_bytes(documents: list[bytes]) -> int:
    """What the documents hold: their bytes, a bytes object's header and the list's slot."""
    return sum(map(len, documents)) + (sys.getsizeof(b"") + 8) * len(documents)


class ColumnIndex:
    """Every loaded slot of this process; `follow` keeps them in step with the database."""

    def __init__(self, engine: sa.Engine, *, results: bool = True) -> None:
        self.engine = engine
        self.results = results  # whether slots keep documents (`Slot.results`)
        self.select_rows = _SELECT_ROWS if results else _SELECT_CODED
        self._lock = threading.Lock()
        self._slots: dict[int, Slot] = {}
        # The conversion SQLAlchemy would make of each column's driver value.
        self.processors: dict[str, Processor] = {
            column.name: column.type.result_processor(engine.dialect, None) for column in images.c
        }
        # A document's conversions: `read_page`'s own (`Dialect.select_rows`), by position.
        _, _, converting = plain_select(_SELECT_ROWS, engine.dialect)
        self.converting = tuple(
            (RESULT_AT[READ_COLUMNS[at]], process)
            for at, process in converting
            if READ_COLUMNS[at] in RESULT_AT
        )

    def close(self) -> None:
        with self._lock:
            self._slots.clear()

    def renders(self, fields: tuple[str, ...]) -> bool:
        """Whether the slots' documents hold these fields (`Slot.results`)."""
        return self.results and all(name in RESULT_AT for name in fields)

    def follow(self, applied: Applied) -> None:
        """Queue the pks a committed operation deleted or wrote, for the next search."""
        pks = [*applied.deleted, *applied.changed]
        if not pks:
            return
        with self._lock:
            slot = self._slots.get(applied.org_id)
        if slot is not None and slot.enqueue(pks) > MAX_PENDING:
            with self._lock:
                if self._slots.get(applied.org_id) is slot:
                    del self._slots[applied.org_id]  # the next search loads it again

    @contextmanager
    def reading(self, org_id: int) -> Iterator[Slot]:
        """The organisation's slot with every followed operation applied, locked while
        the caller reads it."""
        with self._lock:
            slot = self._slots.get(org_id)
            if slot is None:
                # Registered before the load reads: from now on changes are queued.
                slot = self._slots[org_id] = Slot(org_id, self.processors)
        with slot.lock:
            if not slot.loaded:
                self.load(slot)
            self.apply_pending(slot)
            yield slot

    def driver_sql(self, statement: sa.Select[Any]) -> str:
        """The statement as SQL text (integer parameters inline): its rows come back as
        the driver gives them, without a conversion per value."""
        compiled = statement.compile(self.engine, compile_kwargs={"literal_binds": True})
        return str(compiled)

    def load(self, slot: Slot) -> None:
        """Read every row and term of the organisation in one read transaction."""
        started = time.perf_counter()
        with self.engine.connect() as conn:
            self.read(
                conn, slot, images.c.org_id == slot.org_id, image_terms.c.org_id == slot.org_id
            )
        slot.loaded = True
        log.info(
            "loaded %d rows of organisation %d in %.2f s",
            slot.size,
            slot.org_id,
            time.perf_counter() - started,
        )

    def read(
        self,
        conn: sa.Connection,
        slot: Slot,
        which: sa.ColumnElement[bool],
        terms_of: sa.ColumnElement[bool],
    ) -> None:
        """Append the rows `which` selects, then their terms, field by field."""
        rows = conn.exec_driver_sql(
            self.driver_sql(self.select_rows.where(which).order_by(images.c.id))
        )
        for part in rows.partitions(LOAD_BATCH):
            slot.append(part, self.documents(part) if self.results else None)
        for field in TERM_FIELDS:
            statement = _SELECT_TERMS.where(
                terms_of, image_terms.c.org_id == slot.org_id, image_terms.c.field == field
            ).order_by(image_terms.c.image_pk)
            for part in conn.exec_driver_sql(self.driver_sql(statement)).partitions(LOAD_BATCH):
                slot.append_terms(field, part)

    def documents(self, rows: Sequence[Sequence[Any]]) -> list[bytes]:
        """Each driver row's result fields, converted as `read_page` converts them (a NULL
        stays None), marshalled into one bytes object per row."""
        documents = []
        for row in rows:
            cells = [row[at] for at in _READ_AT]
            for at, process in self.converting:
                if (value := cells[at]) is not None:
                    cells[at] = process(value)
            documents.append(marshal.dumps(tuple(cells)))
        return documents

    def apply_pending(self, slot: Slot) -> None:
        """Re-read the queued pks in a transaction that starts after the queue is drained."""
        with slot.pending_lock:
            batches, slot.pending, slot.queued = slot.pending, [], 0
        if not batches:
            return
        changed = np.unique(np.fromiter((pk for b in batches for pk in b), dtype=np.int64))
        slot.remove(changed)
        with self.engine.connect() as conn:
            for part in chunked(changed.tolist()):
                which = sa.and_(images.c.id.in_(part), images.c.org_id == slot.org_id)
                self.read(conn, slot, which, image_terms.c.image_pk.in_(part))
        if slot.dead > max(COMPACT_MIN_DEAD, slot.size // 4):
            slot.compact()
