"""pgvector search on PostgreSQL: HNSW answers only when complete, exact otherwise."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import sqlalchemy as sa

from pixsearch.db.engine import create_db_engine, writer
from pixsearch.db.tables import images, organisations
from pixsearch.index import pgvector as pgvectors
from pixsearch.index.embeddings import PostgresEmbeddings
from pixsearch.search.compiler import select_pks
from pixsearch.search.parser import parse_formula
from tests.postgres import PostgresCluster, no_postgres

DIM = 16
SIZE = 400
KEY = (1, "clip", "tiny")


@pytest.fixture
def filled(postgres: PostgresCluster | None) -> Iterator[tuple[sa.Engine, np.ndarray]]:
    """SIZE images with widths 0..99 and clustered unit vectors, indexed and analysed."""
    if postgres is None:
        no_postgres()
    rng = np.random.default_rng(1)
    centres = rng.standard_normal((20, DIM))
    vectors = centres[rng.integers(0, 20, SIZE)] + 0.3 * rng.standard_normal((SIZE, DIM))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    with postgres.database() as url:
        engine = create_db_engine(url)
        with writer(engine).begin() as conn:
            conn.execute(sa.insert(organisations).values(id=1, name="acme", created_at=0))
            rows = [
                {
                    "id": i + 1,
                    "org_id": 1,
                    "image_id": f"i{i}",
                    "width": i % 100,
                    "created_at": i,
                    "updated_at": i,
                }
                for i in range(SIZE)
            ]
            conn.execute(sa.insert(images), rows)
            PostgresEmbeddings(engine).store(
                conn, 1, [(i + 1, "clip", "tiny", vectors[i]) for i in range(SIZE)]
            )
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE embeddings")
        yield engine, vectors
        engine.dispose()


def expected(vectors: np.ndarray, query: np.ndarray, threshold: float, mask: np.ndarray) -> set:
    scores = vectors @ query
    return set((np.flatnonzero((scores >= threshold - 1e-6) & mask) + 1).tolist())


@pytest.mark.parametrize("formula", ["", "w<50", "w<2"])
@pytest.mark.parametrize("threshold", [0.95, 0.8, 0.3, -1.0])
def test_every_hit_above_the_threshold_through_hnsw_or_exact(
    filled: tuple[sa.Engine, np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
    formula: str,
    threshold: float,
) -> None:
    engine, vectors = filled
    monkeypatch.setattr(pgvectors, "EXACT_MAX_ROWS", 0)
    monkeypatch.setattr(pgvectors, "EXACT_BELOW_SELECTIVITY", 0.05)
    paths: list[str] = []
    for name in ("search_hnsw", "search_exact"):
        original = getattr(pgvectors, name)
        monkeypatch.setattr(
            pgvectors, name, lambda *a, _f=original, _n=name: paths.append(_n) or _f(*a)
        )
    node = parse_formula(formula)
    scope = select_pks(node, 1) if node is not None else None
    widths = np.arange(SIZE) % 100
    mask = widths < (int(formula[2:]) if formula else 100)
    for query in vectors[:5]:
        with engine.connect() as conn:
            found = pgvectors.search(conn, KEY, query, threshold, scope)
        assert set(found.pks.tolist()) == expected(vectors, query, threshold, mask)
        np.testing.assert_allclose(found.scores, vectors[found.pks - 1] @ query, atol=1e-5)
    if formula == "w<2":
        assert set(paths) == {"search_exact"}  # selective: exact directly
    elif threshold == 0.95:
        assert "search_hnsw" in paths and paths.count("search_exact") < 5
    if threshold == -1.0:
        assert paths.count("search_exact") == 5  # every image qualifies: HNSW cannot know
