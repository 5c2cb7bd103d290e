"""The face index on both engines: rows written as apply writes them, exact search by the
closest face, scopes, tenancy, and (SQLite) the in-memory copy following committed changes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from pixsearch.backend import Backend, open_backend
from pixsearch.db.engine import writer
from pixsearch.db.tables import images
from pixsearch.index.faces import FaceMatches
from pixsearch.vocabulary.operations import Applied, FaceChange

MODEL = "faces-a@1"


@pytest.fixture
def backend(engine: sa.Engine) -> Iterator[Backend]:
    """The suite's database (organisations 1 and 2) with images 1-50 of 1 and 51-60 of 2."""
    rows = [
        {"id": pk, "org_id": 1 if pk <= 50 else 2, "image_id": f"i{pk}",
         "created_at": pk, "updated_at": pk}
        for pk in range(1, 61)
    ]  # fmt: skip
    with writer(engine).begin() as conn:
        conn.execute(sa.insert(images), rows)
    opened = open_backend(engine)
    yield opened
    opened.close()


def person(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.09, 128).astype(np.float32)


def near(vector: np.ndarray, seed: int, noise: float = 0.01) -> np.ndarray:
    return (vector + np.random.default_rng(seed).normal(0, noise, 128)).astype(np.float32)


def write(backend: Backend, org_id: int, changes: list[FaceChange]) -> None:
    """As the apply step does: rows in one transaction, then the in-process follower."""
    with writer(backend.faces.engine).begin() as conn:
        backend.faces.replace(conn, org_id, changes)
    applied = Applied(org_id)
    applied.faces.extend(changes)
    backend.faces.follow(applied)


@dataclass
class Scope:
    """The pks a metadata filter passes, as SQL and as an array."""

    pks: list[int]

    @property
    def statement(self) -> sa.Select[Any]:
        return sa.select(images.c.id).where(images.c.id.in_(self.pks))

    def __call__(self) -> np.ndarray:
        return np.asarray(self.pks, dtype=np.int64)


def search(
    backend: Backend, queries: list[np.ndarray], org_id: int = 1, scope: Scope | None = None
) -> dict[int, tuple[float, int]]:
    with backend.faces.engine.connect() as conn:
        found: FaceMatches = backend.faces.search(conn, (org_id, MODEL), queries, 0.5, scope)
    return {
        int(pk): (round(float(d), 4), int(n))
        for pk, d, n in zip(found.pks, found.distances, found.faces, strict=True)
    }


def test_closest_face_of_each_image_within_the_distance(backend: Backend) -> None:
    ada, bob = person(1), person(2)
    write(
        backend,
        1,
        [
            (1, MODEL, [(1, ada)]),
            (2, MODEL, [(1, bob), (2, near(ada, 3)), (3, None)]),  # face 3: too small
            (3, MODEL, [(1, bob)]),
            (4, "other-model@2", [(1, ada)]),
        ],
    )
    write(backend, 2, [(51, MODEL, [(1, ada)])])
    found = search(backend, [ada])
    assert found.keys() == {1, 2} and found[1] == (0.0, 1) and found[2][1] == 2
    assert 0 < found[2][0] < 0.2
    assert search(backend, [ada, bob]).keys() == {1, 2, 3}  # several examples: any of them
    assert search(backend, [ada], scope=Scope([2, 3])).keys() == {2}
    assert search(backend, [ada], org_id=2).keys() == {51}
    assert search(backend, []) == {}


def test_rewriting_and_removing_faces_is_followed(backend: Backend) -> None:
    ada, bob = person(1), person(2)
    write(backend, 1, [(pk, MODEL, [(1, near(ada, pk))]) for pk in range(1, 21)])
    assert len(search(backend, [ada])) == 20  # loaded now (SQLite: into memory)
    write(backend, 1, [(5, MODEL, [(1, bob)]), (6, MODEL, []), (7, MODEL, [(1, None)])])
    applied = Applied(1, deleted=[8])
    with writer(backend.faces.engine).begin() as conn:
        conn.execute(sa.delete(images).where(images.c.id == 8))
    backend.faces.follow(applied)
    assert search(backend, [ada]).keys() == set(range(1, 21)) - {5, 6, 7, 8}
    assert search(backend, [bob]).keys() == {5}
    # Many rewrites of the same images: dead rows are compacted, answers stay right.
    for round_ in range(3):
        alive = [pk for pk in range(1, 21) if pk != 8]
        write(backend, 1, [(pk, MODEL, [(1, near(bob, pk + round_))]) for pk in alive])
        assert search(backend, [bob]).keys() == set(range(1, 21)) - {8}
