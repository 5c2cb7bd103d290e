"""The set-term index: one `image_terms` row per element of keywords, categories,
collections and the generated tags, folded, so that set filters and facets are plain
indexed SQL on both engines.

Write half: `replace_terms`, inside the apply transaction. Read half: the pks of images
with a term (`term_pks`, `having_terms`) and the facet of a list field (`list_facet`).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from pixsearch.db.bulk import chunked
from pixsearch.db.functions import Condition, word_prefix
from pixsearch.db.tables import image_terms, images
from pixsearch.vocabulary.fields import TERM_FIELDS
from pixsearch.vocabulary.text import fold


def replace_terms(conn: sa.Connection, org_id: int, rows: list[tuple[int, dict[str, Any]]]) -> None:
    """Rewrite the keyword/category/collection/tag rows of the images given as (pk, fields)."""
    pks = [pk for pk, _ in rows]
    for part in chunked(pks):
        conn.execute(sa.delete(image_terms).where(image_terms.c.image_pk.in_(part)))
    terms = [
        {
            "image_pk": pk,
            "org_id": org_id,
            "field": field,
            "value": value,
            "value_norm": fold(value),
        }
        for pk, fields in rows
        for field in TERM_FIELDS
        for value in dict.fromkeys(fields.get(field) or ())
    ]
    if terms:
        conn.execute(sa.insert(image_terms), terms)


def term_pks(field: str, org_id: int, folded: list[str], *, prefix: bool = False) -> sa.Select[Any]:
    """Pks with a term of `field` equal to one of `folded` (or with a word starting so)."""
    if prefix:
        matches = word_prefix(image_terms.c.value_norm, folded[0])
    else:
        matches = image_terms.c.value_norm.in_(folded)
    # No DISTINCT: an image may repeat (two spellings of one term); callers do not mind.
    return sa.select(image_terms.c.image_pk).where(
        image_terms.c.org_id == org_id, image_terms.c.field == field, matches
    )


def having_terms(field: str, org_id: int, folded: list[str], op: str) -> Condition:
    """The condition over `images`: a term of `field` is each (`all`), one (`any`) of
    `folded`, or has a word starting with `folded[0]` (`prefix`)."""

    def having(condition: Condition) -> Condition:
        terms = sa.select(image_terms.c.image_pk).where(
            image_terms.c.org_id == org_id, image_terms.c.field == field, condition
        )
        return images.c.id.in_(terms)

    if op == "all":
        return sa.and_(*(having(image_terms.c.value_norm == value) for value in folded))
    if op == "any":
        return having(image_terms.c.value_norm.in_(folded))
    return having(word_prefix(image_terms.c.value_norm, folded[0]))


def list_facet(org_id: int, name: str, where: Condition) -> sa.Select[Any]:
    """Keywords, categories, collections, tags: one value per folded form, counting images."""
    value: sa.ColumnElement[Any] = sa.func.min(image_terms.c.value).label("value")
    count: sa.ColumnElement[Any] = sa.func.count(sa.distinct(image_terms.c.image_pk)).label("n")
    hits = sa.select(images.c.id).where(where)
    return (
        sa.select(value, count)
        .where(
            image_terms.c.org_id == org_id,
            image_terms.c.field == name,
            image_terms.c.image_pk.in_(hits),
        )
        .group_by(image_terms.c.value_norm)
        .order_by(count.desc(), image_terms.c.value_norm.asc())
    )
