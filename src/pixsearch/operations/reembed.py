"""Re-embedding after a model change: one operation per organisation, like any other."""

from __future__ import annotations

import sqlalchemy as sa

from pixsearch.db.tables import embeddings, images, organisations
from pixsearch.operations import store
from pixsearch.operations.store import NewItem, NewOperation


def stale_images(conn: sa.Connection, org_id: int, kind: str, model: str) -> list[str]:
    """Image ids of the organisation without a `kind` vector made by `model`."""
    current = sa.select(embeddings.c.image_pk).where(
        embeddings.c.org_id == org_id, embeddings.c.kind == kind, embeddings.c.model == model
    )
    rows = conn.execute(
        sa.select(images.c.image_id)
        .where(images.c.org_id == org_id, images.c.id.not_in(current))
        .order_by(images.c.id)
    )
    return [row.image_id for row in rows]


def enqueue_reembed(conn: sa.Connection, clip_model: str | None) -> dict[str, int]:
    """Queue, per organisation with stale image embeddings, an operation that fetches those
    images again and recomputes every embedding. Returns {organisation: op id}."""
    if clip_model is None:
        return {}
    queued: dict[str, int] = {}
    for org_id, name in conn.execute(sa.select(organisations.c.id, organisations.c.name)):
        ids = stale_images(conn, org_id, "clip", clip_model)
        if ids:
            operation = NewOperation(
                org_id=org_id,
                method="upd",
                mode="reembed",
                items=[NewItem(image_id, image_id, None) for image_id in ids],
            )
            queued[name] = store.enqueue_many(conn, [operation])[0]
    return queued
