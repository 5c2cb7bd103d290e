"""Rankings: best first by relevance, ties by pk, whether read whole or only their top."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pixsearch.index.ranking import Ranking


def expected_order(pks: np.ndarray, relevance: np.ndarray) -> list[int]:
    return [int(pk) for pk in pks[np.lexsort((pks, -relevance))]]


def test_best_first_orders_by_relevance_then_pk() -> None:
    rng = np.random.default_rng(0)
    pks = rng.permutation(np.arange(1, 5001)).astype(np.int64)
    for distinct in (3, 70_000):  # many ties; hardly any
        relevance = rng.integers(0, distinct, len(pks)).astype(np.float64) / 7
        ranking = Ranking.scored(pks, relevance)
        assert ranking.best_first.tolist() == expected_order(pks, relevance)
    assert Ranking.scored(pks[:0], np.zeros(0)).best_first.tolist() == []


@settings(max_examples=300, deadline=None)
@given(
    relevance=st.lists(st.integers(0, 6), min_size=0, max_size=60),
    seed=st.integers(0, 2**16),
    k=st.integers(0, 70),
)
def test_the_top_is_the_start_of_the_whole_order(relevance: list[int], seed: int, k: int) -> None:
    """Ties at the cut included: the top k is what the whole sort would show first."""
    rng = np.random.default_rng(seed)
    pks = rng.choice(np.arange(1, 1000), len(relevance), replace=False).astype(np.int64)
    scores = np.array(relevance, dtype=np.float64) / 3
    expected = expected_order(pks, scores)
    assert Ranking.scored(pks, scores).top(k).tolist() == expected[:k]
    ranking = Ranking.scored(pks, scores)
    assert ranking.best_first.tolist() == expected  # read whole first, then its top
    assert ranking.top(k).tolist() == expected[:k]


def test_an_ordered_ranking_keeps_its_order() -> None:
    pks = np.array([7, 3, 9, 1], dtype=np.int64)
    ranking = Ranking.ordered(pks)
    assert ranking.top(2).tolist() == [7, 3]
    assert ranking.best_first.tolist() == [7, 3, 9, 1]
    assert len(ranking) == 4
