"""The encodings the column index (`index.columns`) is made of: dictionary-encoded values,
growing arrays, set-term entries sorted by row, and the top counts of a facet.

Every comparison they prepare is SQLite's: text in code point order (BINARY), NOCASE
folding only ASCII letters, a missing value (code 0) sorting last and matching nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

MISSING_RANK = np.iinfo(np.int64).max // 4  # sorts after every value, both directions
MAX_LISTED_TERMS = 256  # past this many marked terms, one pass over the entries is quicker
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

Codes = NDArray[np.int32]
Processor = Callable[[Any], Any] | None
Mask = NDArray[np.bool_]
Rows = NDArray[np.intp]


def nocase(text: str) -> str:
    """SQLite's NOCASE collation key: ASCII letters folded, everything else as it is."""
    return text.translate(_ASCII_LOWER)


class Dictionary:
    """The distinct values of one field, each with a code from 1 (0 stands for missing)."""

    def __init__(self, process: Processor = None) -> None:
        self.values: list[Any] = [None]
        self.code_of: dict[Any, int] = {None: 0}  # by the value as the driver gives it
        self.process = process  # the column type's conversion (0/1 to bool), once per value
        self._arrays: dict[str, tuple[int, NDArray[Any]]] = {}

    def __len__(self) -> int:
        return len(self.values)

    def code(self, raw: Any) -> int:
        code = self.code_of.get(raw)
        if code is None:
            code = self.code_of[raw] = len(self.values)
            self.values.append(self.process(raw) if self.process is not None else raw)
        return code

    def encode(self, raws: Sequence[Any]) -> Codes:
        """The codes of driver values, adding the new ones (one dict lookup per row)."""
        for raw in set(raws).difference(self.code_of):
            self.code(raw)
        return np.fromiter(map(self.code_of.__getitem__, raws), dtype=np.int32, count=len(raws))

    def derived(self, name: str, make: Callable[[list[Any]], NDArray[Any]]) -> NDArray[Any]:
        """`make(values)` of every code, cached until new values arrive (code 0 included)."""
        cached = self._arrays.get(name)
        if cached is None or cached[0] != len(self.values):
            cached = self._arrays[name] = (len(self.values), make(self.values))
        return cached[1]

    def lookup(self, decide: Callable[[Any], bool]) -> Mask:
        """Whether each code passes `decide` (never the missing code): a Python call per
        distinct value, not per row."""
        table = np.fromiter((decide(value) for value in self.values[1:]), dtype=bool)
        return np.concatenate([np.zeros(1, dtype=bool), table])

    def ranks(self, case_insensitive: bool) -> NDArray[np.int64]:
        """The sort rank of each code (equal keys, equal ranks); missing sorts last."""

        def rank(values: list[Any]) -> NDArray[np.int64]:
            keys = [nocase(v) if case_insensitive else v for v in values[1:]]
            distinct = sorted(set(keys))
            position = {key: i for i, key in enumerate(distinct)}
            out = np.fromiter((position[key] for key in keys), dtype=np.int64, count=len(keys))
            return np.concatenate([np.array([MISSING_RANK], dtype=np.int64), out])

        return self.derived("nocase-rank" if case_insensitive else "rank", rank)


def text_array(values: list[Any], transform: Callable[[str], str] | None = None) -> NDArray[Any]:
    """The values as a NumPy unicode array (code 0 as ''), compared code point by code point
    like SQLite's BINARY collation."""
    texts = [""] + [transform(v) if transform else str(v) for v in values[1:]]
    return np.array(texts, dtype=str)


def number_array(values: list[Any]) -> NDArray[np.float64]:
    return np.array([np.nan] + [float(v) for v in values[1:]], dtype=np.float64)


class Grown:
    """An array that grows by doubling; `view()` is its filled part."""

    def __init__(self, dtype: type[np.generic]) -> None:
        self.data: NDArray[Any] = np.zeros(1024, dtype=dtype)
        self.size = 0

    def view(self) -> NDArray[Any]:
        return self.data[: self.size]

    def extend(self, values: NDArray[Any]) -> None:
        end = self.size + len(values)
        if end > len(self.data):
            data = np.zeros(max(end, 2 * len(self.data)), dtype=self.data.dtype)
            data[: self.size] = self.data[: self.size]
            self.data = data
        self.data[self.size : end] = values
        self.size = end

    def keep(self, selected: NDArray[Any]) -> None:
        """Keep only the selected entries (a mask or indexes), in order."""
        kept = self.view()[selected]
        self.data = np.zeros(max(1024, len(kept) + len(kept) // 4), dtype=self.data.dtype)
        self.size = 0
        self.extend(kept)


class Terms:
    """One set-term field: an entry per (row, folded term), sorted by row, with the
    smallest spelling the row gives that term (SQL's `min(value)` of a facet)."""

    def __init__(self) -> None:
        self.norms = Dictionary()
        self.spellings = Dictionary()
        self.spellings_per_norm: list[set[int]] = [set()]
        self.rows = Grown(np.int32)
        self.codes = Grown(np.int32)
        self.spelled = Grown(np.int32)
        self._starts: tuple[int, int, NDArray[np.int64]] | None = None  # (entries, rows, ...)
        # (entries covered, entries sorted by folded term, where each term's entries start)
        self._by_norm: tuple[int, NDArray[np.intp], NDArray[np.intp]] | None = None

    def append(self, rows: NDArray[np.int64], values: Sequence[str], folded: Sequence[str]) -> None:
        """Add entries (row, value, folded value), rows past every earlier entry's."""
        if not len(rows):
            return
        norms = self.norms.encode(folded).astype(np.int64)
        spelled = self.spellings.encode(values)
        # One entry per (row, folded term), sorted by row: np.unique sorts the keys.
        keys = rows << 32 | norms
        unique, first, counts = np.unique(keys, return_index=True, return_counts=True)
        chosen = spelled[first]
        for at in np.flatnonzero(counts > 1).tolist():  # two spellings of a term in a row
            same = np.flatnonzero(keys == unique[at])
            chosen[at] = min(spelled[same].tolist(), key=self.spellings.values.__getitem__)
        if len(self.spellings_per_norm) < len(self.norms):
            self.spellings_per_norm.extend(
                set() for _ in range(len(self.norms) - len(self.spellings_per_norm))
            )
        for pair in np.unique(norms << 32 | spelled).tolist():
            self.spellings_per_norm[pair >> 32].add(pair & 0xFFFFFFFF)
        self.rows.extend((unique >> 32).astype(np.int32))
        self.codes.extend((unique & 0xFFFFFFFF).astype(np.int32))
        self.spelled.extend(chosen)

    def starts(self, size: int) -> NDArray[np.int64]:
        """Where each row's entries start (CSR offsets of `size` rows, one more at the end),
        computed again only after entries or rows were added or renumbered."""
        if self._starts is None or self._starts[:2] != (self.rows.size, size):
            per_row = np.bincount(self.rows.view(), minlength=size)
            starts = np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(per_row)])
            self._starts = (self.rows.size, size, starts)
        return self._starts[2]

    def rows_having(self, table: Mask) -> NDArray[np.int32]:
        """The rows of the entries whose folded term is marked in `table` (by code; codes
        past its end are unmarked): the terms' entry lists when they are a minority of the
        entries, else one pass over every entry. A row may come once per marked term."""
        codes, rows = self.codes.view(), self.rows.view()
        if len(table) < len(self.norms):
            table = np.concatenate([table, np.zeros(len(self.norms) - len(table), dtype=bool)])
        covered, order, starts = self.by_norm()
        wanted = np.flatnonzero(table[: len(starts) - 1])
        listed = int((starts[wanted + 1] - starts[wanted]).sum())
        if listed * 2 > len(codes) or len(wanted) > MAX_LISTED_TERMS:
            found: NDArray[np.int32] = rows[table[codes]]
            return found
        parts = [rows[order[starts[code] : starts[code + 1]]] for code in wanted.tolist()]
        parts.append(rows[covered:][table[codes[covered:]]])  # entries since the lists
        return np.concatenate(parts)

    def by_norm(self) -> tuple[int, NDArray[np.intp], NDArray[np.intp]]:
        """The entries sorted by folded term, made again once an eighth of the entries came
        since: entries never change term, and renumbering drops the lists."""
        size = self.codes.size
        if self._by_norm is None or size - self._by_norm[0] > max(1024, size // 8):
            codes = self.codes.view()
            order = np.argsort(codes, kind="stable")
            starts = np.searchsorted(codes[order], np.arange(len(self.norms) + 1))
            self._by_norm = (size, order, starts)
        return self._by_norm

    def entries_of_rows(self, rows: Rows, size: int) -> NDArray[np.intp]:
        """The entries of the given rows (in any order) of a slot of `size` rows."""
        offsets = self.starts(size)
        starts = offsets[rows]
        lengths = offsets[rows + 1] - starts
        total = int(lengths.sum())
        if total == 0:
            return np.zeros(0, dtype=np.intp)
        # starts[i], starts[i] + 1, ... for each row, without a Python loop
        offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
        return np.asarray(offsets + np.arange(total), dtype=np.intp)

    def display(self, norm: int, hit_entries: Callable[[], NDArray[np.intp]]) -> str:
        """The smallest spelling of `norm` among the hits' entries."""
        spellings = self.spellings_per_norm[norm]
        if len(spellings) == 1:
            return str(self.spellings.values[next(iter(spellings))])
        entries = hit_entries()
        chosen = entries[self.codes.view()[entries] == norm]
        return str(min(self.spellings.values[code] for code in self.spelled.view()[chosen]))

    def renumber(self, new_row: NDArray[np.int64]) -> None:
        """Drop the entries of dead rows (new_row -1) and renumber the others."""
        mapped = new_row[self.rows.view()]
        keep = mapped >= 0
        self.codes.keep(keep)
        self.spelled.keep(keep)
        self.rows.keep(keep)
        self.rows.data[: self.rows.size] = mapped[keep]
        self._starts = None
        self._by_norm = None


def top_counts(
    counts: NDArray[np.int64], ranks: list[NDArray[np.int64]], limit: int
) -> list[tuple[int, int]]:
    """(code, count) of the `limit` codes counted most, ties by the ranks (the last one
    first), without a Python sort of every distinct value."""
    present = np.flatnonzero(counts)
    if limit <= 0 or len(present) == 0:
        return []
    negated = -counts[present]
    if limit < len(present):  # only the codes that can reach the top
        kth = np.partition(negated, limit - 1)[limit - 1]
        present = present[negated <= kth]
        negated = -counts[present]
    order = np.lexsort((*(rank[present] for rank in ranks), negated))[:limit]
    return [(int(code), int(counts[code])) for code in present[order]]
