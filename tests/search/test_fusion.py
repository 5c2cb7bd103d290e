"""Reciprocal rank fusion: one ranking alone scores as it would among others."""

from __future__ import annotations

import numpy as np

from pixsearch.search.fusion import RRF_K, fuse


def scores_of(rankings: list[np.ndarray]) -> dict[int, float]:
    hits = fuse(rankings)
    return dict(zip(hits.pks.tolist(), hits.scores.tolist(), strict=True))


def test_one_ranking_scores_one_over_60_plus_rank() -> None:
    ranking = np.array([7, 3, 9, 1], dtype=np.int64)
    assert scores_of([ranking]) == {7: 1 / 61, 3: 1 / 62, 9: 1 / 63, 1: 1 / 64}
    empty = np.zeros(0, dtype=np.int64)
    assert scores_of([ranking, empty]) == scores_of([ranking])


def test_rankings_add_their_contributions() -> None:
    first, second = np.array([7, 3], dtype=np.int64), np.array([3, 5], dtype=np.int64)
    expected = {7: 1 / (RRF_K + 1), 3: 1 / (RRF_K + 2) + 1 / (RRF_K + 1), 5: 1 / (RRF_K + 2)}
    assert scores_of([first, second]) == expected
