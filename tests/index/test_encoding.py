"""The set-term entries of the column index: the rows having some terms, from the terms'
entry lists or a pass over every entry, equal a brute-force scan, also for entries
appended after the lists were made and after compaction renumbered the rows."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pixsearch.index import encoding
from pixsearch.index.encoding import Terms

WORDS = ["red", "blue", "green", "sel1", "sel50", "car"]


def brute_force(entries: list[tuple[int, str]], marked: set[str]) -> set[int]:
    return {row for row, word in entries if word in marked}


@settings(max_examples=150, deadline=None)
@given(
    batches=st.lists(
        st.lists(st.lists(st.sampled_from(WORDS), max_size=4), min_size=1, max_size=30),
        min_size=1,
        max_size=4,
    ),
    marked=st.sets(st.sampled_from([*WORDS, "unknown"]), max_size=4),
    dead=st.sets(st.integers(0, 120), max_size=20),
    listed_max=st.sampled_from([0, 256]),
)
def test_rows_having_equal_a_scan(
    batches: list[list[list[str]]], marked: set[str], dead: set[int], listed_max: int
) -> None:
    encoding_max = encoding.MAX_LISTED_TERMS
    encoding.MAX_LISTED_TERMS = listed_max  # 0: always one pass over the entries
    try:
        terms, entries, row = Terms(), [], 0
        for batch in batches:  # each batch after the previous one's lists were made
            rows, words = [], []
            for image_words in batch:
                rows += [row] * len(image_words)
                words += image_words
                entries += [(row, word) for word in image_words]
                row += 1
            terms.append(np.array(rows, dtype=np.int64), words, words)
            check(terms, entries, marked)
        # Compaction: dead rows dropped, the others numbered again from 0.
        new_row = np.full(row, -1, dtype=np.int64)
        alive = [r for r in range(row) if r not in dead]
        new_row[alive] = np.arange(len(alive))
        terms.renumber(new_row)
        entries = [(int(new_row[r]), word) for r, word in entries if new_row[r] >= 0]
        check(terms, entries, marked)
    finally:
        encoding.MAX_LISTED_TERMS = encoding_max


def check(terms: Terms, entries: list[tuple[int, str]], marked: set[str]) -> None:
    table = np.zeros(len(terms.norms), dtype=bool)
    for word in marked:
        if word in terms.norms.code_of:
            table[terms.norms.code_of[word]] = True
    assert set(terms.rows_having(table).tolist()) == brute_force(entries, marked)
    # A table made before the latest terms came marks none of them.
    short = table[: max(0, len(table) - 1)]
    unmarked = {word for word in marked if terms.norms.code_of.get(word, -1) < len(short)}
    assert set(terms.rows_having(short).tolist()) == brute_force(entries, unmarked)
