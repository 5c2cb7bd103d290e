"""Scored hits and how rankings combine: reciprocal rank fusion (k = 60), the contribution
of one of several similarity filters, and `&&` / `||` of scored hits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pixsearch.index.vectors import Matches

RRF_K = 60


@dataclass(frozen=True)
class Hits:
    """Scored image pks: unique, in no particular order."""

    pks: NDArray[np.int64]
    scores: NDArray[np.float64]

    @staticmethod
    def of(pks: NDArray[np.int64], scores: NDArray[np.floating[Any]]) -> Hits:
        return Hits(np.asarray(pks, dtype=np.int64), np.asarray(scores, dtype=np.float64))

    def __len__(self) -> int:
        return len(self.pks)


def top_order(hits: Hits, k: int, descending: bool) -> NDArray[np.intp]:
    """Indexes of the first k hits by score, ties newest (highest pk) first when descending.

    Exact with ties: every hit tied with the k-th is sorted before the cut.
    """
    key = -hits.scores if descending else hits.scores
    if k < len(key):
        kth = np.partition(key, k - 1)[k - 1]
        candidates = np.flatnonzero(key <= kth)
    else:
        candidates = np.arange(len(key))
    tie = -hits.pks[candidates] if descending else hits.pks[candidates]  # the few only
    order = candidates[np.lexsort((tie, key[candidates]))]
    return order[:k]


def by_score(matches: Matches) -> NDArray[np.int64]:
    """Pks best first, ties by pk."""
    return matches.pks[np.lexsort((matches.pks, -matches.scores))]


def fuse(rankings: list[NDArray[np.int64]]) -> Hits:
    """Reciprocal rank fusion: each ranking adds 1 / (60 + rank) to the images in it."""
    if not rankings:
        return Hits.of(np.zeros(0, dtype=np.int64), np.zeros(0))
    if len(rankings) == 1:  # its pks are unique already: no need to sort a million
        return Hits.of(rankings[0], 1.0 / (RRF_K + np.arange(1, len(rankings[0]) + 1)))
    pks = np.concatenate(rankings)
    weights = np.concatenate([1.0 / (RRF_K + np.arange(1, len(r) + 1)) for r in rankings])
    unique, inverse = np.unique(pks, return_inverse=True)
    scores = np.bincount(inverse, weights=weights, minlength=len(unique))
    return Hits(unique, np.asarray(scores, dtype=np.float64))


def as_contribution(hits: Hits) -> Hits:
    """Replace scores by 1 / (60 + rank): how one of several similarity filters counts."""
    order = np.lexsort((hits.pks, -hits.scores))
    ranks = np.empty(len(hits), dtype=np.float64)
    ranks[order] = np.arange(1, len(hits) + 1)
    return Hits(hits.pks, 1.0 / (RRF_K + ranks))


def intersect(a: Hits, b: Hits) -> Hits:
    common, in_a, in_b = np.intersect1d(a.pks, b.pks, assume_unique=True, return_indices=True)
    return Hits(common, a.scores[in_a] + b.scores[in_b])


def unite(parts: list[Hits]) -> Hits:
    pks = np.concatenate([part.pks for part in parts])
    scores = np.concatenate([part.scores for part in parts])
    unique, inverse = np.unique(pks, return_inverse=True)
    summed = np.bincount(inverse, weights=scores, minlength=len(unique))
    return Hits(unique, np.asarray(summed, dtype=np.float64))
