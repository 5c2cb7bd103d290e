"""Rows written with the apply step's own index writers (the databases are tests/conftest.py's)."""

from __future__ import annotations

from typing import Any

import numpy as np
import sqlalchemy as sa

from pixsearch.backend import open_backend
from pixsearch.db.engine import writer
from pixsearch.db.tables import images
from pixsearch.index.terms import replace_terms
from pixsearch.vocabulary.fields import WRITABLE_FIELDS


def add_images(engine: sa.Engine, org_id: int, rows: list[dict[str, Any]]) -> list[int]:
    """Insert images (fields, computed columns, `vectors` {kind: (model, vector)}); return pks.

    Terms, full text and embeddings are written by the indexes of `index/`, as the apply
    step does.
    """
    pks = []
    backend = open_backend(engine)
    with writer(engine).begin() as conn:
        for index, given in enumerate(rows):
            row = dict(given)
            vectors = row.pop("vectors", {})
            row.setdefault("created_at", index)
            row.setdefault("updated_at", row["created_at"])
            pk = conn.execute(
                sa.insert(images).values(org_id=org_id, **row).returning(images.c.id)
            ).scalar_one()
            fields = {name: row.get(name) for name in WRITABLE_FIELDS}
            replace_terms(conn, org_id, [(pk, fields)])
            backend.fulltext.replace(conn, [(pk, fields)])
            stored = [
                (pk, kind, model, np.asarray(v, np.float32)) for kind, (model, v) in vectors.items()
            ]
            if stored:
                backend.embeddings.store(conn, org_id, stored)
            pks.append(pk)
    backend.close()
    return pks


def unit(vector: Any) -> np.ndarray:
    array = np.asarray(vector, dtype=np.float32)
    return array / np.linalg.norm(array)
