"""The apply step: one transaction that checks every item against the current state, writes
the images (all or nothing, or the good subset) and finishes the operation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from pixsearch.backend import Backend
from pixsearch.db.bulk import chunked
from pixsearch.db.clock import now_ms
from pixsearch.db.tables import images
from pixsearch.images.service import load_existing
from pixsearch.index.colors import replace_colors
from pixsearch.index.terms import replace_terms
from pixsearch.operations import store
from pixsearch.operations.plan import Plan, new_fields, plan_item
from pixsearch.vocabulary.fields import (
    ANALYSED_COLUMNS,
    CAPTION_FIELDS,
    GENERATED_TEXT,
    TERM_FIELDS,
    WRITABLE_FIELDS,
)
from pixsearch.vocabulary.operations import (
    Action,
    Applied,
    Claimed,
    Failure,
    Item,
    Prepared,
    Vector,
)
from pixsearch.vocabulary.rows import ImageRow

# The actions that rewrite an existing row.
UPDATES = (Action.REPLACE, Action.PATCH, Action.REEMBED)


@dataclass
class _Write:
    item: Item
    plan: Plan
    existing: ImageRow | None
    fields: dict[str, Any]
    prepared: Prepared
    changed: dict[str, Any] = field(default_factory=dict)  # columns whose value changes

    def __post_init__(self) -> None:
        if self.existing is None or self.plan.action == Action.DELETE:
            return
        # A patch can only change the fields its body names: compare those alone.
        names = (self.item.body or {}) if self.plan.action == Action.PATCH else self.fields
        candidates = {name: self.fields[name] for name in names if name in self.fields}
        if self.plan.needs_pixels:
            candidates.update(_computed(self))
        self.changed = {
            name: value for name, value in candidates.items() if self.existing.get(name) != value
        }


def apply_operation(
    conn: sa.Connection,
    backend: Backend,
    op: Claimed,
    worker: str,
    items: Sequence[Item],
    prepared: Sequence[Prepared],
) -> Applied:
    """Apply prepared items in the caller's (write) transaction and finish the operation."""
    existing = load_existing(conn, op.org_id, [item.image_id for item in items])
    writes: list[_Write] = []
    applied = Applied(op.org_id)
    for item, prep in zip(items, prepared, strict=True):
        current = existing.get(item.image_id)
        plan = plan_item(op.mode, op.strict, current, item.body)
        failure = _failure(item, plan, prep)
        if failure is not None:
            applied.failures.append(failure)
        elif plan.action != Action.SKIP:
            fields = new_fields(plan, current, item.body) if plan.action != Action.DELETE else {}
            writes.append(_Write(item, plan, current, fields, prep))
    errors = [{"id": failure.raw_id, "msg": failure.msg} for failure in applied.failures]
    num_skipped = len(items) - len(errors) - len(writes)
    if errors and not op.subset:
        num_good = 0
        applied.outcomes = {"failed": len(errors), "discarded": len(writes) + num_skipped}
    else:
        _write_images(conn, backend, op.org_id, writes, applied)
        num_good = len(writes) + num_skipped
        applied.outcomes = {"applied": len(writes), "skipped": num_skipped, "failed": len(errors)}
    applied.finished = store.finish(
        conn, backend.dialect, op.id, worker, num_good=num_good, num_bad=len(errors), errors=errors
    )
    return applied


def _failure(item: Item, plan: Plan, prep: Prepared) -> Failure | None:
    """Why `item` fails, if it does: its plan (strict mode) or its preparation."""
    if plan.error is not None:
        return Failure(item.raw_id, plan.error, "strict_conflict")
    if not plan.needs_pixels:
        return None
    if prep.error is not None:
        return Failure(item.raw_id, prep.error, prep.cause or "internal")
    if prep.values is None:  # prepare and apply disagree: never write blind
        return Failure(item.raw_id, "image was not analysed", "internal")
    return None


def _write_images(
    conn: sa.Connection, backend: Backend, org_id: int, writes: list[_Write], applied: Applied
) -> None:
    now = now_ms()
    deletes = [w.existing["id"] for w in writes if w.plan.action == Action.DELETE and w.existing]
    inserts = [w for w in writes if w.plan.action == Action.INSERT]
    updates = [w for w in writes if w.plan.action in UPDATES]
    for part in chunked(deletes):
        conn.execute(sa.delete(images).where(images.c.id.in_(part)))
    backend.fulltext.delete(conn, deletes)
    applied.deleted.extend(deletes)

    pks: list[int] = []
    if inserts:
        rows = [
            {
                **w.fields,
                **_computed(w),
                "org_id": org_id,
                "image_id": w.item.image_id,
                "created_at": now,
                "updated_at": now,
            }
            for w in inserts
        ]
        result = conn.execute(
            sa.insert(images).returning(images.c.id, sort_by_parameter_order=True), rows
        )
        pks = [row.id for row in result]
    _update_rows(conn, updates, now)
    written = list(zip(pks, inserts, strict=True)) + [(_pk(w), w) for w in updates]
    applied.changed.extend(pk for pk, _ in written)
    _write_derived(conn, backend, org_id, written, applied)


def _update_rows(conn: sa.Connection, updates: list[_Write], now: int) -> None:
    """UPDATE only the columns that change, one executemany per set of changed columns:
    a batch that edits two fields binds two values per row, not every column."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for w in updates:
        assert w.existing is not None
        groups.setdefault(tuple(sorted(w.changed)), []).append(
            {**w.changed, "pk": w.existing["id"], "updated_at": now}
        )
    for names, rows in groups.items():
        statement = sa.update(images).where(images.c.id == sa.bindparam("pk"))
        conn.execute(
            statement.values({name: sa.bindparam(name) for name in (*names, "updated_at")}), rows
        )


def _pk(write: _Write) -> int:
    assert write.existing is not None
    return int(write.existing["id"])


def _computed(write: _Write) -> dict[str, Any]:
    """Computed columns: fresh from the pixels, or kept as they were."""
    if write.prepared.values is not None and write.plan.needs_pixels:
        return {name: write.prepared.values.get(name) for name in ANALYSED_COLUMNS}
    if write.existing is not None:
        return {name: write.existing.get(name) for name in ANALYSED_COLUMNS}
    return {}


def _write_derived(
    conn: sa.Connection,
    backend: Backend,
    org_id: int,
    written: list[tuple[int, _Write]],
    applied: Applied,
) -> None:
    # Generated columns (tags, OCR text) come from the pixels, or are kept as they were.
    terms = [(pk, _all(w)) for pk, w in written if _changed(w, TERM_FIELDS)]
    texts = [(pk, _all(w)) for pk, w in written if _changed(w, (*WRITABLE_FIELDS, *GENERATED_TEXT))]
    colors = [(pk, _computed(w).get("colors")) for pk, w in written if _changed(w, ("colors",))]
    if terms:
        replace_terms(conn, org_id, terms)
    if texts:
        backend.fulltext.replace(conn, texts)
    if colors:
        replace_colors(conn, org_id, colors)
    vectors = [
        (pk, kind, model, vector)
        for pk, w in written
        for kind, (model, vector) in _vectors(w).items()
    ]
    if vectors:
        backend.embeddings.store(conn, org_id, vectors)
        applied.vectors.extend(vectors)
    # New pixels replace the image's face identities (none, when they were not computed).
    faces = [(pk, *(w.prepared.faces or ("", []))) for pk, w in written if w.plan.needs_pixels]
    if faces:
        backend.faces.replace(conn, org_id, faces)
        applied.faces.extend(faces)


def _all(write: _Write) -> dict[str, Any]:
    return {**write.fields, **_computed(write)}


def _changed(write: _Write, names: Sequence[str]) -> bool:
    if write.existing is None:
        return True
    return not write.changed.keys().isdisjoint(names)


def _vectors(write: _Write) -> dict[str, Vector]:
    """Embeddings to set or drop: new pixels replace the image's; new text the caption's."""
    out: dict[str, Vector] = {}
    prepared = write.prepared.vectors
    if write.plan.needs_pixels:
        out["clip"] = prepared.get("clip", ("", None))
    if "caption" in prepared or (write.existing is not None and _changed(write, CAPTION_FIELDS)):
        out["caption"] = prepared.get("caption", ("", None))
    return out
