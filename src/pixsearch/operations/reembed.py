"""Re-embedding after a model change: operations per organisation, like any other.

Images without a CLIP vector of the configured CLIP model are fetched again (mode
`reembed`: pixels and caption are recomputed). Images whose caption text has no vector of
the configured sentence model, but whose CLIP vector is current, only have their caption
embedded again (mode `caption`): nothing is downloaded. Images with faces but without
face identities of the configured face model are fetched again too (`reembed`).
"""

from __future__ import annotations

import sqlalchemy as sa

from pixsearch.db.dialect import Dialect
from pixsearch.db.tables import embeddings, image_faces, images, organisations
from pixsearch.operations import store
from pixsearch.operations.plan import caption_text
from pixsearch.vocabulary.fields import CAPTION_FIELDS
from pixsearch.vocabulary.operations import METHOD_OF_MODE, Mode, NewItem, NewOperation


def stale_images(conn: sa.Connection, org_id: int, kind: str, model: str) -> list[str]:
    """Image ids of the organisation without a `kind` vector made by `model`."""
    return [row.image_id for row in _without_vector(conn, org_id, kind, model)]


def stale_faces(conn: sa.Connection, org_id: int, model: str) -> list[str]:
    """Image ids of the organisation with faces but no face rows made by `model`."""
    current = sa.select(image_faces.c.image_pk).where(
        image_faces.c.org_id == org_id, image_faces.c.model == model
    )
    statement = (
        sa.select(images.c.image_id)
        .where(images.c.org_id == org_id, images.c.n_faces > 0, images.c.id.not_in(current))
        .order_by(images.c.id)
    )
    return list(conn.execute(statement).scalars())


def stale_captions(conn: sa.Connection, org_id: int, model: str) -> list[str]:
    """Image ids of the organisation with caption text but no caption vector of `model`."""
    rows = _without_vector(conn, org_id, "caption", model, CAPTION_FIELDS)
    return [row.image_id for row in rows if caption_text(dict(row._mapping))]


def _without_vector(
    conn: sa.Connection, org_id: int, kind: str, model: str, columns: tuple[str, ...] = ()
) -> sa.CursorResult[tuple[str, ...]]:
    current = sa.select(embeddings.c.image_pk).where(
        embeddings.c.org_id == org_id, embeddings.c.kind == kind, embeddings.c.model == model
    )
    return conn.execute(
        sa.select(images.c.image_id, *(images.c[name] for name in columns))
        .where(images.c.org_id == org_id, images.c.id.not_in(current))
        .order_by(images.c.id)
    )


def enqueue_reembed(
    conn: sa.Connection,
    dialect: Dialect,
    clip_model: str | None,
    text_model: str | None = None,
    face_model: str | None = None,
) -> dict[str, list[int]]:
    """Queue, per organisation, the operations that bring its embeddings to the configured
    models. Returns {organisation: [operation ids]}."""
    queued: dict[str, list[int]] = {}
    for org_id, name in conn.execute(sa.select(organisations.c.id, organisations.c.name)):
        refetch = stale_images(conn, org_id, "clip", clip_model) if clip_model else []
        if face_model:
            refetch = list(dict.fromkeys([*refetch, *stale_faces(conn, org_id, face_model)]))
        again = set(refetch)  # a re-fetched image gets its caption embedded too
        only_caption = (
            [i for i in stale_captions(conn, org_id, text_model) if i not in again]
            if text_model
            else []
        )
        for mode, ids in ((Mode.REEMBED, refetch), (Mode.CAPTION, only_caption)):
            if ids:
                operation = NewOperation(
                    org_id=org_id,
                    method=METHOD_OF_MODE[mode],
                    mode=mode,
                    items=[NewItem(image_id, image_id, None) for image_id in ids],
                )
                queued.setdefault(name, []).append(
                    store.enqueue_many(conn, dialect, [operation])[0]
                )
    return queued
