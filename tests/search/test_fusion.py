"""Reciprocal rank fusion: one ranking alone scores as it would among others."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pixsearch.index.ranking import Ranking
from pixsearch.search.fusion import RRF_K, Hits, RankedHits, eager, fuse


def scores_of(rankings: list[np.ndarray]) -> dict[int, float]:
    hits = eager(fuse([Ranking.ordered(ranking) for ranking in rankings]))
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


def test_one_ranking_read_lazily_pages_as_its_whole_order() -> None:
    """A page of `RankedHits` (either direction, any offset) is the page of its fused
    scores, also where relevance ties."""
    rng = np.random.default_rng(3)
    pks = rng.permutation(np.arange(1, 401)).astype(np.int64)
    relevance = rng.integers(0, 9, len(pks)).astype(np.float64)
    lazy = fuse([Ranking.scored(pks, relevance)])
    assert isinstance(lazy, RankedHits)
    whole = lazy.hits()
    assert whole.pks.tolist() == pks[np.lexsort((pks, -relevance))].tolist()
    for k in (0, 1, 50, 399, 400, 500):
        for descending in (True, False):
            got_pks, got_scores = fuse([Ranking.scored(pks, relevance)]).top(k, descending)
            want_pks, want_scores = whole.top(k, descending)
            assert got_pks.tolist() == want_pks.tolist()
            assert got_scores.tolist() == want_scores.tolist()
    assert lazy.scores_of([int(whole.pks[5]), int(whole.pks[0])]) == [1 / 66, 1 / 61]


@settings(max_examples=300, deadline=None)
@given(
    scores=st.lists(st.integers(0, 5), max_size=60),
    k=st.integers(0, 70),
    descending=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_a_page_of_hits_is_the_start_of_their_whole_order(
    scores: list[int], k: int, descending: bool, seed: int
) -> None:
    """By score, ties newest (highest pk) first when descending, oldest first when not;
    every hit tied at the cut sorted before it."""
    pks = np.random.default_rng(seed).choice(np.arange(1, 500), len(scores), replace=False)
    hits = Hits.of(pks, np.array(scores, dtype=np.float64) / 4)
    if descending:
        whole = np.lexsort((-hits.pks, -hits.scores))
    else:
        whole = np.lexsort((hits.pks, hits.scores))
    got_pks, got_scores = hits.top(k, descending)
    assert got_pks.tolist() == hits.pks[whole[:k]].tolist()
    assert got_scores.tolist() == hits.scores[whole[:k]].tolist()
