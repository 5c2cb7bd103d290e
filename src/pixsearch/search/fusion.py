"""Scored hits and how rankings combine: reciprocal rank fusion (k = 60), the contribution
of one of several similarity filters, and `&&` / `||` of scored hits.

A search with one ranking (a single `t~` answered by full text alone) keeps it as
`RankedHits`: its page needs only the ranking's top, its count and facets only the pks, so
the whole order is made only if something asks for every score."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pixsearch.index.ranking import Ranking, first_k
from pixsearch.index.vectors import Matches

RRF_K = 60


@dataclass(frozen=True)
class Hits:
    """Scored image pks: unique, in no particular order."""

    pks: NDArray[np.int64]
    scores: NDArray[np.floating[Any]]  # float32 cosines as they come, else float64

    @staticmethod
    def of(pks: NDArray[np.int64], scores: NDArray[np.floating[Any]]) -> Hits:
        """Cosines stay float32: a float64 copy of 100k would cost more than the top 50;
        every float32 is a float64 exactly, so the pages and their scores are the same."""
        scores = np.asarray(scores)
        if scores.dtype != np.float32:
            scores = scores.astype(np.float64, copy=False)
        return Hits(np.asarray(pks, dtype=np.int64), scores)

    def __len__(self) -> int:
        return len(self.pks)

    def top(self, k: int, descending: bool) -> tuple[NDArray[np.int64], NDArray[np.floating[Any]]]:
        """The first k pks by score and their scores (`top_order`)."""
        order = top_order(self, k, descending)
        return self.pks[order], self.scores[order]

    def scores_of(self, pks: list[int]) -> list[float]:
        """The scores of some of the hits' pks, in that order."""
        wanted = np.isin(self.pks, pks)
        score_of = dict(zip(self.pks[wanted].tolist(), self.scores[wanted].tolist(), strict=True))
        return [score_of[pk] for pk in pks]


@dataclass(frozen=True)
class RankedHits:
    """One ranking as `fuse` scores it, 1 / (60 + rank), without sorting more than is read."""

    ranking: Ranking

    @property
    def pks(self) -> NDArray[np.int64]:
        return self.ranking.pks

    def __len__(self) -> int:
        return len(self.ranking)

    def top(self, k: int, descending: bool) -> tuple[NDArray[np.int64], NDArray[np.floating[Any]]]:
        if not descending:  # worst first: rare enough to rank everything
            return self.hits().top(k, descending)
        pks = self.ranking.top(k)
        return pks, 1.0 / (RRF_K + np.arange(1, len(pks) + 1))

    def scores_of(self, pks: list[int]) -> list[float]:
        return self.hits().scores_of(pks)

    def hits(self) -> Hits:
        """Every hit with its score."""
        ordered = self.ranking.best_first
        return Hits.of(ordered, 1.0 / (RRF_K + np.arange(1, len(ordered) + 1)))


AnyHits = Hits | RankedHits


def eager(hits: AnyHits) -> Hits:
    return hits.hits() if isinstance(hits, RankedHits) else hits


def top_order(hits: Hits, k: int, descending: bool) -> NDArray[np.intp]:
    """Indexes of the first k hits by score, ties newest (highest pk) first when descending.

    Exact with ties: every hit tied with the k-th is sorted before the cut.
    """
    return first_k(hits.scores, hits.pks, k, descending=descending, ties_descending=descending)


def by_score(matches: Matches) -> Ranking:
    """Pks best first, ties by pk."""
    return Ranking.scored(matches.pks, matches.scores)


def fuse(rankings: list[Ranking]) -> AnyHits:
    """Reciprocal rank fusion: each ranking adds 1 / (60 + rank) to the images in it."""
    if not rankings:
        return Hits.of(np.zeros(0, dtype=np.int64), np.zeros(0))
    if len(rankings) == 1:  # its pks are unique already: no need to sort a million
        return RankedHits(rankings[0])
    ordered = [ranking.best_first for ranking in rankings]
    pks = np.concatenate(ordered)
    weights = np.concatenate([1.0 / (RRF_K + np.arange(1, len(r) + 1)) for r in ordered])
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
