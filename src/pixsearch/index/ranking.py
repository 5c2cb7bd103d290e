"""A ranking of image pks, sorted only as far as it is read.

Best first means by relevance, higher first, ties by pk ascending: the order of FTS5's
bm25() with `ORDER BY rank, rowid` and of the vector rankings. A search shows one page of a
ranking, while its count and facets need only the pks, so a ranking of 40,000 matches
sorts only its top 50 (`top`) unless the whole order is asked for (`best_first`), as
fusing several rankings does.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from numpy.typing import NDArray


class Ranking:
    """Unique pks with their relevance; or pks already best first (`ordered`)."""

    def __init__(self, pks: NDArray[np.int64], relevance: NDArray[np.float64] | None) -> None:
        self.pks = np.asarray(pks, dtype=np.int64)  # in no particular order unless ordered
        self.relevance = relevance  # None: `pks` are best first already

    @staticmethod
    def ordered(pks: NDArray[np.int64]) -> Ranking:
        return Ranking(pks, None)

    @staticmethod
    def scored(pks: NDArray[np.int64], relevance: NDArray[np.floating]) -> Ranking:
        return Ranking(pks, np.asarray(relevance, dtype=np.float64))

    def __len__(self) -> int:
        return len(self.pks)

    def top(self, k: int) -> NDArray[np.int64]:
        """The first k pks best first: the boundary's ties are all sorted before the cut."""
        if self.relevance is None:
            return self.pks[:k]
        if "best_first" in self.__dict__ or k >= len(self.pks):
            return self.best_first[:k]
        chosen = first_k(self.relevance, self.pks, k, descending=True, ties_descending=False)
        return self.pks[chosen]

    @functools.cached_property
    def best_first(self) -> NDArray[np.int64]:
        """Every pk best first."""
        if self.relevance is None:
            return self.pks
        return sorted_best_first(self.pks, self.relevance)


def first_k(
    scores: NDArray[np.floating[Any]],
    pks: NDArray[np.int64],
    k: int,
    *,
    descending: bool,
    ties_descending: bool,
) -> NDArray[np.intp]:
    """Indexes of the first k by score, ties by pk in their own direction. Exact with ties:
    every one tied with the k-th is sorted before the cut; only those few are sorted."""
    n = len(scores)
    if k <= 0:
        return np.zeros(0, dtype=np.intp)
    if k < n:  # the k-th, without negating every score
        at = n - k if descending else k - 1
        kth = np.partition(scores, at)[at]
        candidates = np.flatnonzero(scores >= kth if descending else scores <= kth)
    else:
        candidates = np.arange(n)
    key = -scores[candidates] if descending else scores[candidates]
    tie = -pks[candidates] if ties_descending else pks[candidates]
    return candidates[np.lexsort((tie, key))][:k]


def sorted_best_first(pks: NDArray[np.int64], relevance: NDArray[np.float64]) -> NDArray[np.int64]:
    """The pks by relevance, best first, ties by pk: a quicksort, then a stable pass only
    over the tied, far cheaper than a lexsort of a million."""
    if len(pks) > 1 and not bool(np.all(pks[1:] > pks[:-1])):
        by_pk = np.argsort(pks, kind="stable")
        pks, relevance = pks[by_pk], relevance[by_pk]
    order = np.argsort(-relevance)
    ordered = relevance[order]
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = ordered[1:] != ordered[:-1]
    if bool(starts.all()):
        return pks[order]
    groups = np.cumsum(starts) - 1
    rank = np.empty(len(order), dtype=np.uint16 if groups[-1] < 2**16 else np.int64)
    rank[order] = groups
    return pks[np.argsort(rank, kind="stable")]  # input in pk order: ties stay by pk
