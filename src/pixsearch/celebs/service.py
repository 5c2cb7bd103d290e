"""Named people (`/celebs`): reading them, applying their operations, and the descriptors
`p=<name>` searches with. Always scoped to one organisation.

A person is a name (matched case- and accent-insensitively) and example faces, each given
as `<image id>_<face number>` like the value of `p~`. The examples' descriptors are copied
when the operation applies, so the person outlives the images, and a search never reads
another organisation's faces: an example is resolved among the writer's own images.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray

from pixsearch.db.clock import iso_ms, now_ms
from pixsearch.db.dialect import Dialect
from pixsearch.db.tables import celeb_faces, celebs, image_faces, images
from pixsearch.errors import NotFound
from pixsearch.operations import store
from pixsearch.vocabulary.operations import Applied, Claimed, Item, Mode
from pixsearch.vocabulary.text import fold

FACE_REF = re.compile(r"(.+)_([0-9]{1,9})", re.DOTALL)
MAX_NAME = 200
MAX_FACES = 100  # example faces per person


def folded_name(name: str) -> str:
    """The form names are compared in: case- and accent-folded, spaces collapsed."""
    return " ".join(fold(name).split())


def list_celebs(conn: sa.Connection, org_id: int) -> list[dict[str, Any]]:
    """Every person of the organisation, by name."""
    rows = conn.execute(
        sa.select(celebs).where(celebs.c.org_id == org_id).order_by(celebs.c.name_norm)
    ).all()
    faces = _faces_of(conn, [row.id for row in rows])
    return [_render(row, faces.get(row.id, [])) for row in rows]


def get_celeb(conn: sa.Connection, org_id: int, name: str) -> dict[str, Any]:
    """One person, or NotFound."""
    row = _find(conn, org_id, name)
    if row is None:
        raise NotFound(f"person {name!r} not found")
    return _render(row, _faces_of(conn, [row.id]).get(row.id, []))


def celeb_descriptors(
    conn: sa.Connection, org_id: int, name: str, model: str
) -> list[NDArray[np.float32]]:
    """The descriptors of the person's example faces made by `model`; [] for an unknown name."""
    statement = (
        sa.select(celeb_faces.c.descriptor)
        .select_from(celeb_faces.join(celebs, celebs.c.id == celeb_faces.c.celeb_id))
        .where(
            celebs.c.org_id == org_id,
            celebs.c.name_norm == folded_name(name),
            celeb_faces.c.model == model,
        )
    )
    return [np.frombuffer(blob, dtype=np.float32) for blob in conn.execute(statement).scalars()]


def _find(conn: sa.Connection, org_id: int, name: str) -> Any:
    return conn.execute(
        sa.select(celebs).where(celebs.c.org_id == org_id, celebs.c.name_norm == folded_name(name))
    ).first()


def _faces_of(conn: sa.Connection, celeb_ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    if celeb_ids:
        statement = (
            sa.select(celeb_faces.c.celeb_id, celeb_faces.c.face)
            .where(celeb_faces.c.celeb_id.in_(celeb_ids))
            .order_by(celeb_faces.c.celeb_id, celeb_faces.c.seq)
        )
        for celeb_id, face in conn.execute(statement):
            found.setdefault(celeb_id, []).append(face)
    return found


def _render(row: Any, faces: list[str]) -> dict[str, Any]:
    return {
        "name": row.name,
        "faces": faces,
        "created_at": iso_ms(row.created_at),
        "updated_at": iso_ms(row.updated_at),
    }


# --- The apply step of celebs operations ----------------------------------------------------


def apply_celebs(
    conn: sa.Connection, dialect: Dialect, op: Claimed, worker: str, items: Sequence[Item]
) -> Applied:
    """Apply a celebs operation in the caller's transaction: every item is checked first,
    then all are written (or the good subset, with subset=true)."""
    errors: list[dict[str, Any]] = []
    writes: list[tuple[Item, Any, list[tuple[str, str, bytes]]]] = []
    skipped = 0
    for item in items:
        current = _find(conn, op.org_id, item.image_id)
        error, examples = _check_item(conn, op, item, current)
        if error is not None:
            errors.append({"id": item.raw_id, "msg": error})
        elif op.mode != Mode.CEL_ADD and current is None:
            skipped += 1  # non-strict upd or del of a missing person: good, nothing to do
        else:
            writes.append((item, current, examples))
    done = 0
    if not errors or op.subset:
        for item, current, examples in writes:
            _write_item(conn, op, item, current, examples)
        done = len(writes) + skipped
    applied = Applied(op.org_id)
    applied.finished = store.finish(
        conn, dialect, op.id, worker, num_good=done, num_bad=len(errors), errors=errors
    )
    return applied


def _check_item(
    conn: sa.Connection, op: Claimed, item: Item, current: Any
) -> tuple[str | None, list[tuple[str, str, bytes]]]:
    """Why the item cannot be applied (or None), and its example faces resolved."""
    if op.mode == Mode.CEL_ADD and current is not None and op.strict:
        return "person already exists (strict mode)", []
    if op.mode != Mode.CEL_ADD and current is None and op.strict:
        return "person does not exist (strict mode)", []
    examples: list[tuple[str, str, bytes]] = []
    for ref in (item.body or {}).get("faces") or [] if op.mode != Mode.CEL_DEL else []:
        found = resolve_face(conn, op.org_id, ref)
        if isinstance(found, str):
            return found, []
        examples.append((ref, *found))
    if op.mode == Mode.CEL_ADD and current is not None:
        kept = set(_faces_of(conn, [current.id]).get(current.id, []))
        if len(kept | {ref for ref, _, _ in examples}) > MAX_FACES:
            return f"a person has at most {MAX_FACES} example faces", []
    return None, examples


def _write_item(
    conn: sa.Connection,
    op: Claimed,
    item: Item,
    current: Any,
    examples: list[tuple[str, str, bytes]],
) -> None:
    if op.mode == Mode.CEL_DEL:
        conn.execute(sa.delete(celeb_faces).where(celeb_faces.c.celeb_id == current.id))
        conn.execute(sa.delete(celebs).where(celebs.c.id == current.id))
        return
    now = now_ms()
    kept: list[str] = []
    if current is None:
        celeb_id = conn.execute(
            sa.insert(celebs).returning(celebs.c.id),
            {
                "org_id": op.org_id,
                "name": " ".join(item.image_id.split()),
                "name_norm": folded_name(item.image_id),
                "created_at": now,
                "updated_at": now,
            },
        ).scalar_one()
    else:
        celeb_id = current.id
        conn.execute(sa.update(celebs).where(celebs.c.id == celeb_id).values(updated_at=now))
        if op.mode == Mode.CEL_PUT:
            conn.execute(sa.delete(celeb_faces).where(celeb_faces.c.celeb_id == celeb_id))
        else:
            kept = _faces_of(conn, [celeb_id]).get(celeb_id, [])
    _add_examples(conn, celeb_id, kept, examples)


def _add_examples(
    conn: sa.Connection, celeb_id: int, kept: list[str], examples: list[tuple[str, str, bytes]]
) -> None:
    """Append the examples not there yet (each face once)."""
    new = {ref: (ref, model, blob) for ref, model, blob in examples if ref not in kept}
    start = conn.execute(
        sa.select(sa.func.coalesce(sa.func.max(celeb_faces.c.seq), 0)).where(
            celeb_faces.c.celeb_id == celeb_id
        )
    ).scalar_one()
    rows = [
        {"celeb_id": celeb_id, "seq": start + i, "face": ref, "model": model, "descriptor": blob}
        for i, (ref, model, blob) in enumerate(new.values(), start=1)
    ]
    if rows:
        conn.execute(sa.insert(celeb_faces), rows)


def resolve_face(conn: sa.Connection, org_id: int, ref: str) -> tuple[str, bytes] | str:
    """(model, descriptor) of the example face `<image id>_<n>`, or why it has none."""
    match = FACE_REF.fullmatch(ref)
    if match is None:
        return f"face {ref!r} is not <image id>_<face number>"
    image_id, n = match[1], int(match[2])
    image = conn.execute(
        sa.select(images.c.id, images.c.n_faces).where(
            images.c.org_id == org_id, images.c.image_id == image_id
        )
    ).first()
    if image is None:
        return f"face {ref!r}: image {image_id!r} does not exist"
    if n < 1 or n > (image.n_faces or 0):
        return f"face {ref!r}: image {image_id!r} has {image.n_faces or 0} face(s), no face {n}"
    row = conn.execute(
        sa.select(image_faces.c.model, image_faces.c.descriptor).where(
            image_faces.c.image_pk == image.id,
            image_faces.c.n == n,
            image_faces.c.descriptor.is_not(None),
        )
    ).first()
    if row is None:
        return f"face {ref!r} has no identity (too small, or analysed without identities)"
    return str(row.model), bytes(row.descriptor)
