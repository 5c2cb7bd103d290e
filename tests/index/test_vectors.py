"""The in-memory vector index: lazy load, following applied operations, exact filtered top k."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from pixsearch.backend import open_backend
from pixsearch.db.engine import writer
from pixsearch.db.tables import embeddings
from pixsearch.index import vectors as vectors_module
from pixsearch.index.vectors import VectorIndex
from pixsearch.vocabulary.operations import Applied
from tests.search.conftest import add_images, unit

DIM = 16
MODEL = "clip-a@1"


@pytest.fixture
def index(engine: sa.Engine) -> Iterator[VectorIndex]:
    vectors = VectorIndex(engine)
    yield vectors
    vectors.close()


def random_units(count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((count, DIM)).astype(np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def add_vectors(
    engine: sa.Engine, org_id: int, matrix: np.ndarray, model: str = MODEL
) -> list[int]:
    rows = [
        {"image_id": f"o{org_id}-{model}-{i}", "vectors": {"clip": (model, vector)}}
        for i, vector in enumerate(matrix)
    ]
    return add_images(engine, org_id, rows)


def everything(index: VectorIndex, query: np.ndarray, **kwargs: Any) -> dict[int, float]:
    found = index.search((1, "clip", MODEL), query, -2.0, **kwargs)
    return dict(zip(found.pks.tolist(), found.scores.tolist(), strict=True))


def test_loads_lazily_only_the_configured_model_and_organisation(
    engine: sa.Engine, index: VectorIndex
) -> None:
    mine = add_vectors(engine, 1, random_units(5, 1))
    add_vectors(engine, 1, random_units(3, 2), model="clip-b@2")
    add_vectors(engine, 2, random_units(4, 3))
    assert index.loaded_keys() == []
    assert set(everything(index, unit(np.ones(DIM)))) == set(mine)
    assert index.loaded_keys() == [(1, "clip", MODEL)]


def test_scores_are_cosine_and_threshold_filters(engine: sa.Engine, index: VectorIndex) -> None:
    matrix = random_units(50, 4)
    pks = add_vectors(engine, 1, matrix)
    query = matrix[7]
    found = index.search((1, "clip", MODEL), query, 0.3)
    expected = {
        pk: float(score) for pk, score in zip(pks, matrix @ query, strict=True) if score >= 0.3
    }
    assert dict(zip(found.pks.tolist(), found.scores.tolist(), strict=True)) == pytest.approx(
        expected
    )
    assert pks[7] in expected


def test_follows_added_replaced_deleted_and_other_model_vectors(
    engine: sa.Engine, index: VectorIndex
) -> None:
    a, b, c, d = add_vectors(engine, 1, random_units(4, 5))
    query = unit(np.arange(DIM))
    assert set(everything(index, query)) == {a, b, c, d}
    new = unit(np.arange(DIM))
    (e,) = add_images(engine, 1, [{"image_id": "new"}])
    index.apply(
        Applied(
            1,
            deleted=[b],
            vectors=[
                (a, "clip", MODEL, new),  # replaced
                (c, "clip", "clip-b@2", unit(np.ones(DIM))),  # now a vector of another model
                (d, "caption", MODEL, unit(np.ones(DIM))),  # another kind: not this slot
                (e, "clip", MODEL, new),  # added
            ],
        )
    )
    scores = everything(index, query)
    assert set(scores) == {a, d, e}
    assert scores[a] == pytest.approx(1.0) and scores[e] == pytest.approx(1.0)
    index.apply(Applied(1, vectors=[(a, "clip", "", None)]))  # pixels changed, no vector
    assert set(everything(index, query)) == {d, e}
    index.apply(Applied(2, deleted=[d, e]))  # another organisation: not ours
    assert set(everything(index, query)) == {d, e}


def test_changes_to_unloaded_slots_come_from_the_database(
    engine: sa.Engine, index: VectorIndex
) -> None:
    (a,) = add_vectors(engine, 1, random_units(1, 6))
    index.apply(Applied(1, deleted=[a]))  # nothing loaded: nothing to do
    assert set(everything(index, unit(np.ones(DIM)))) == {a}


def test_many_replacements_compact_and_stay_exact(
    engine: sa.Engine, index: VectorIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vectors_module, "COMPACT_MIN_DEAD", 2)
    pks = add_vectors(engine, 1, random_units(30, 7))
    everything(index, unit(np.ones(DIM)))
    latest = dict(zip(pks, random_units(30, 7), strict=True))
    for round_ in range(200):
        pk = pks[round_ % len(pks)]
        latest[pk] = random_units(1, 100 + round_)[0]
        index.apply(Applied(1, vectors=[(pk, "clip", MODEL, latest[pk])]))
        if round_ % 7 == 0:
            index.snapshot((1, "clip", MODEL))
    snap = index.snapshot((1, "clip", MODEL))
    assert snap.size - snap.dead == 30
    assert snap.size < 30 + 20  # compacted along the way, not 230 rows
    query = unit(np.arange(DIM) - 3)
    expected = {pk: float(vector @ query) for pk, vector in latest.items()}
    assert everything(index, query) == pytest.approx(expected, abs=1e-6)


def test_a_slot_nobody_searches_is_unloaded_instead_of_queueing_forever(
    engine: sa.Engine, index: VectorIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vectors_module, "MAX_PENDING", 3)
    (a, b) = add_vectors(engine, 1, random_units(2, 8))
    everything(index, unit(np.ones(DIM)))
    for _ in range(4):
        index.apply(Applied(1, deleted=[a]))
    assert index.loaded_keys() == []
    # Reloaded from the database, which never deleted `a`: the database is the truth.
    assert set(everything(index, unit(np.ones(DIM)))) == {a, b}


def test_a_change_committed_during_the_load_is_not_lost(
    engine: sa.Engine, index: VectorIndex
) -> None:
    """The load reads a snapshot; an operation commits after it and calls `apply` meanwhile."""
    (a, b) = add_vectors(engine, 1, random_units(2, 9))
    late = unit(np.arange(DIM))
    (c,) = add_images(engine, 1, [{"image_id": "late"}])
    done = threading.Event()

    def commit_meanwhile(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        # After the load's count: its read transaction has its snapshot.
        if done.is_set() or "count(" not in statement:
            return
        done.set()
        with writer(engine).begin() as other:
            open_backend(engine).embeddings.store(other, 1, [(c, "clip", MODEL, late)])
            other.execute(sa.delete(embeddings).where(embeddings.c.image_pk == a))
        index.apply(Applied(1, vectors=[(c, "clip", MODEL, late), (a, "clip", "", None)]))

    sa.event.listen(engine, "after_cursor_execute", commit_meanwhile)
    try:
        scores = everything(index, late)
    finally:
        sa.event.remove(engine, "after_cursor_execute", commit_meanwhile)
    assert done.is_set()
    assert set(scores) == {b, c} and scores[c] == pytest.approx(1.0)


@pytest.mark.parametrize("gather", [0.0, 1.0])
def test_a_search_of_an_older_snapshot_sees_later_tombstones_never_pk_0(
    engine: sa.Engine, index: VectorIndex, monkeypatch: pytest.MonkeyPatch, gather: float
) -> None:
    """A search that took its snapshot before an apply reads rows the apply tombstones in
    place (another thread's search, in the server)."""
    monkeypatch.setattr(vectors_module, "GATHER_MAX_FRACTION", gather)
    pks = add_vectors(engine, 1, random_units(20, 30))
    key = (1, "clip", MODEL)
    older = index.snapshot(key)
    index.apply(Applied(1, deleted=pks[:5]))
    assert index.snapshot(key).dead == 5 and older.dead == 0
    query = unit(np.ones(DIM))
    table = older.search_within(query, -2.0, np.asarray(pks))
    scan = replace(older, row_of=None).search_within(query, -2.0, np.asarray(pks))
    for found in (older.search_all(query, -2.0), table, scan):
        assert sorted(found.pks.tolist()) == pks[5:]


def brute_force(
    matrix: np.ndarray, pks: list[int], allowed: set[int], query: np.ndarray, k: int
) -> list[int]:
    scores = dict(
        zip(pks, (matrix.astype(np.float64) @ query.astype(np.float64)).tolist(), strict=True)
    )
    return sorted((pk for pk in pks if pk in allowed), key=lambda pk: -scores[pk])[:k]


@pytest.fixture(scope="module")
def stored(module_engine: sa.Engine) -> tuple[sa.Engine, np.ndarray, list[int]]:
    """2000 vectors, written once for every selectivity."""
    matrix = random_units(2000, 10)
    return module_engine, matrix, add_vectors(module_engine, 1, matrix)


@pytest.mark.parametrize("fraction", [0.0, 0.001, 0.01, 0.1, 0.29, 0.31, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("lookup", ["table", "scan"])
def test_filtered_top_k_is_exact_at_every_selectivity(
    stored: tuple[sa.Engine, np.ndarray, list[int]],
    monkeypatch: pytest.MonkeyPatch,
    fraction: float,
    lookup: str,
) -> None:
    # Either side of GATHER_MAX_FRACTION: gathered rows or the full product's scores; the
    # filter's rows found by the pk -> row table or, with pks too sparse for one, a scan.
    if lookup == "scan":
        monkeypatch.setattr(vectors_module, "DENSE_TABLE_FACTOR", 0)
    engine, matrix, pks = stored
    rng = np.random.default_rng(11)
    allowed = [pk for pk in pks if rng.random() < fraction]
    strangers = [10**9, -1, 0]  # ignored, like the pks of images without a vector
    index = VectorIndex(engine)
    try:
        twice = allowed[::7]  # a filter may name an image twice (two spellings of a term)
        mixed = np.asarray([*strangers, *allowed, *twice], dtype=np.int64)  # in any order
        for seed in range(5):
            query = random_units(1, 200 + seed)[0]
            found = index.search((1, "clip", MODEL), query, -2.0, lambda: mixed)
            assert set(found.pks.tolist()) == set(allowed)
            assert len(found.pks) == len(allowed)
            expected = dict(zip(pks, (matrix @ query).tolist(), strict=True))
            for pk, score in zip(found.pks.tolist(), found.scores.tolist(), strict=True):
                assert score == pytest.approx(expected[pk], abs=1e-6)
            top = found.pks[np.argsort(-found.scores, kind="stable")][:10].tolist()
            assert top == brute_force(matrix, pks, set(allowed), query, 10)
        assert (index.snapshot((1, "clip", MODEL)).row_of is None) == (lookup == "scan")
    finally:
        index.close()


def test_the_filter_query_error_reaches_the_caller(engine: sa.Engine, index: VectorIndex) -> None:
    add_vectors(engine, 1, random_units(10, 12))

    def failing() -> np.ndarray:
        raise RuntimeError("the filter failed")

    with pytest.raises(RuntimeError, match="the filter failed"):
        index.search((1, "clip", MODEL), unit(np.ones(DIM)), 0.0, failing)


def test_empty_slot_and_wrong_dimension(engine: sa.Engine, index: VectorIndex) -> None:
    assert len(index.search((1, "clip", MODEL), unit(np.ones(DIM)), 0.0).pks) == 0
    add_vectors(engine, 1, random_units(3, 13), model="clip-c@3")
    with pytest.raises(ValueError, match="dimensions"):
        index.search((1, "clip", "clip-c@3"), unit(np.ones(DIM + 1)), 0.0)


POOL = (
    40  # images per organisation; the first 25 start with a vector (small: compaction is frequent)
)


@pytest.fixture(scope="module")
def two_organisations(module_engine: sa.Engine) -> tuple[sa.Engine, dict[int, dict[int, Any]]]:
    """Both organisations' images and their starting vectors (pk -> vector, or None)."""
    start: dict[int, dict[int, Any]] = {}
    for org_id in (1, 2):
        matrix = random_units(POOL, 20 + org_id)
        with_vector = add_vectors(module_engine, org_id, matrix[:25], model=f"pool-{org_id}")
        rows = [{"image_id": f"pool-{org_id}-bare-{i}"} for i in range(POOL - 25)]
        bare = add_images(module_engine, org_id, rows)
        start[org_id] = {pk: vector for pk, vector in zip(with_vector, matrix, strict=False)}
        start[org_id].update(dict.fromkeys(bare))
    with writer(module_engine).begin() as conn:  # one model name for both organisations
        conn.execute(
            sa.update(embeddings).where(embeddings.c.model.like("pool-%")).values(model="pool")
        )
    return module_engine, start


# (organisation, image index, what happens): None deletes the image, -1 gives it a vector
# of another model (which leaves the slot), any other number a new vector of that seed.
CHANGE = st.tuples(
    st.sampled_from([1, 2]),
    st.integers(0, POOL - 1),
    st.one_of(st.none(), st.just(-1), st.integers(0, 10**6)),
)


@hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    batches=st.lists(st.lists(CHANGE, max_size=30), min_size=1, max_size=6),
    fraction=st.sampled_from([None, 0.0, 0.05, 0.2, 0.5, 1.0]),
    threshold=st.sampled_from([-2.0, -0.2, 0.0, 0.3]),
    compact=st.booleans(),
    dense=st.booleans(),
    gather=st.sampled_from([None, 0.0, 1.0]),
    seed=st.integers(0, 2**16),
)
def test_random_changes_filters_and_thresholds_match_brute_force(
    two_organisations: tuple[sa.Engine, dict[int, dict[int, Any]]],
    batches: list[list[tuple[int, int, int | None]]],
    fraction: float | None,
    threshold: float,
    compact: bool,
    dense: bool,
    gather: float | None,
    seed: int,
) -> None:
    """Applied changes (tombstones, compaction), filters of any selectivity that also name
    the other organisation's images, thresholds, each way of finding and scoring the
    filter's rows: the same hits and scores as brute force."""
    engine, start = two_organisations
    truth = {
        org_id: {pk: v for pk, v in vectors.items() if v is not None}
        for org_id, vectors in start.items()
    }
    pools = {org_id: sorted(vectors) for org_id, vectors in start.items()}
    everyone = np.asarray(pools[1] + pools[2] + [0, -3, 10**9], dtype=np.int64)
    rng = np.random.default_rng(seed)
    with pytest.MonkeyPatch.context() as patch:
        if compact:  # after every change; else never (tombstones stay)
            patch.setattr(vectors_module, "COMPACT_MIN_DEAD", 0)
            patch.setattr(vectors_module, "COMPACT_DEAD_SHARE", 0.0)
        if not dense:  # no pk -> row table: the filter's rows are found by a scan
            patch.setattr(vectors_module, "DENSE_TABLE_FACTOR", 0)
        if gather is not None:  # always the full product (0.0) or always gathering (1.0)
            patch.setattr(vectors_module, "GATHER_MAX_FRACTION", gather)
        index = VectorIndex(engine)
        try:
            for batch in [[], *batches]:
                for org_id, at, what in batch:
                    pk = pools[org_id][at]
                    if what is None:
                        truth[org_id].pop(pk, None)
                        index.apply(Applied(org_id, deleted=[pk]))
                        continue
                    vector = random_units(1, what)[0] if what >= 0 else None
                    model = "pool" if vector is not None else "other@2"
                    if vector is None:
                        truth[org_id].pop(pk, None)
                    else:
                        truth[org_id][pk] = vector
                    index.apply(Applied(org_id, vectors=[(pk, "clip", model, vector)]))
                for org_id in (1, 2):
                    query = random_units(1, int(rng.integers(10**6)))[0]
                    allowed = (
                        None if fraction is None else everyone[rng.random(len(everyone)) < fraction]
                    )
                    within = None if allowed is None else (lambda allowed=allowed: allowed)
                    found = index.search((org_id, "clip", "pool"), query, threshold, within)
                    got = dict(zip(found.pks.tolist(), found.scores.tolist(), strict=True))
                    assert len(got) == len(found.pks)  # unique
                    exact = {
                        pk: float(vector.astype(np.float64) @ query.astype(np.float64))
                        for pk, vector in truth[org_id].items()
                        if allowed is None or pk in set(allowed.tolist())
                    }
                    must = {pk for pk, score in exact.items() if score >= threshold + 1e-5}
                    may = {pk for pk, score in exact.items() if score >= threshold - 1e-5}
                    assert must <= set(got) <= may
                    assert all(got[pk] == pytest.approx(exact[pk], abs=1e-5) for pk in got)
        finally:
            index.close()
