"""Reading images, always scoped to one organisation."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, cast

import sqlalchemy as sa

from pixsearch.db.bulk import chunked
from pixsearch.db.dialect import Dialect, dialect_of
from pixsearch.db.tables import images
from pixsearch.errors import NotFound
from pixsearch.vocabulary.fields import READABLE_FIELDS
from pixsearch.vocabulary.rows import ImageRow


def load_existing(
    conn: sa.Connection,
    org_id: int,
    image_ids: Sequence[str],
    columns: Sequence[str] | None = None,
) -> dict[str, ImageRow]:
    """The stored rows of these ids (those that exist), keyed by image id; only `columns`
    (plus image_id) when given."""
    found: dict[str, ImageRow] = {}
    selected = (
        [images.c[name] for name in dict.fromkeys(("image_id", *columns))] if columns else [images]
    )
    for part in chunked(list(image_ids)):
        result = conn.execute(
            sa.select(*selected).where(images.c.org_id == org_id, images.c.image_id.in_(part))
        )
        keys = list(result.keys())
        at = keys.index("image_id")
        # zip over plain tuples: several times faster than dict(row._mapping) per row.
        found.update({row[at]: cast(ImageRow, dict(zip(keys, row, strict=True))) for row in result})
    return found


def get_image(
    conn: sa.Connection, org_id: int, image_id: str, fields: Sequence[str] | None = None
) -> dict[str, Any]:
    row = conn.execute(
        sa.select(images).where(images.c.org_id == org_id, images.c.image_id == image_id)
    ).first()
    if row is None:
        raise NotFound(f"image {image_id!r} not found")
    return render_image(row._mapping, fields)


def read_page(
    conn: sa.Connection, org_id: int, pks: Sequence[int], fields: Sequence[str]
) -> dict[int, dict[str, Any]]:
    """The organisation's images among `pks` (a page of results), rendered with `fields`,
    by pk: one query by pk alone, so SQLite looks the rows up by rowid instead of scanning
    the organisation's index; the organisation is checked on each row. Only the fields'
    columns are read, the pks travel as one parameter (an expanding IN is rewritten on
    every call), the rows come through `Dialect.select_rows` (on SQLite, straight from
    sqlite3), and they become dicts by zip (row._mapping per value cost four times the
    query on every search)."""
    if not pks:
        return {}
    dialect = dialect_of(conn)
    names, statement = page_statement(type(dialect), tuple(fields))
    found = {}
    values = {"pks": dialect.pk_list_text(list(pks))}
    shown = names[2:]
    for row in dialect.select_rows(conn, statement, values):
        if row[1] == org_id:
            found[row[0]] = dict(zip(shown, row[2:], strict=True))
    return found


@functools.lru_cache(maxsize=64)
def page_statement(
    dialect: type[Dialect], fields: tuple[str, ...]
) -> tuple[tuple[str, ...], sa.Select[Any]]:
    """The columns `read_page` reads for these fields (pk and organisation first), and the
    statement, built once per engine and set of fields."""
    names = ("id", "org_id", *dict.fromkeys(fields))
    pks = sa.bindparam("pks", type_=sa.Text)
    statement = sa.select(*(images.c[name] for name in names)).where(
        dialect().pk_set(images.c.id, pks)
    )
    return names, statement


def render_image(row: Any, fields: Sequence[str] | None = None) -> dict[str, Any]:
    """The image as the API returns it, projected to `fields` when given."""
    names = fields or READABLE_FIELDS
    return {name: row[name] for name in names}
