"""The colour index: one `image_colors` row per dominant colour of an image, in OKLab,
with its share of the picture and its family, so `color~` and `color=` are plain indexed
SQL on both engines (a squared Euclidean distance needs no SQL function).

Write half: `replace_colors`, inside the apply transaction, from the `colors` column
(`[{"hex", "share"}]`). Read half: `near_color` and `of_family`, conditions over `images`,
and `nearest`, the closeness that `color~` with `sort_by=similarity` orders by.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from pixsearch.db.bulk import chunked
from pixsearch.db.functions import Condition
from pixsearch.db.tables import image_colors, images
from pixsearch.vocabulary.colors import family_of, hex_to_lab

Lab = tuple[float, float, float]


def replace_colors(
    conn: sa.Connection, org_id: int, rows: list[tuple[int, list[dict[str, Any]] | None]]
) -> None:
    """Rewrite the dominant-colour rows of the images given as (pk, colors)."""
    for part in chunked([pk for pk, _ in rows]):
        conn.execute(sa.delete(image_colors).where(image_colors.c.image_pk.in_(part)))
    values = []
    for pk, colors in rows:
        for color in colors or ():
            lab = hex_to_lab(str(color["hex"]))
            values.append(
                {
                    "image_pk": pk,
                    "org_id": org_id,
                    "l": lab[0],
                    "a": lab[1],
                    "b": lab[2],
                    "share": float(color["share"]),
                    "family": family_of(lab),
                }
            )
    if values:
        conn.execute(sa.insert(image_colors), values)


def near_color(org_id: int, lab: Lab, max_distance: float, min_share: float) -> Condition:
    """An image has a colour of at least `min_share` within `max_distance` of `lab`."""
    return having(org_id, min_share, squared_distance(lab) <= max_distance**2)


def of_family(org_id: int, family: str, min_share: float) -> Condition:
    """An image has a colour of at least `min_share` of the colour `family`."""
    return having(org_id, min_share, image_colors.c.family == family)


def squared_distance(lab: Lab) -> sa.ColumnElement[float]:
    rows = image_colors.c
    lightness, a, b = lab
    squared = (rows.l - lightness) * (rows.l - lightness) + (rows.a - a) * (rows.a - a)
    return squared + (rows.b - b) * (rows.b - b)


def nearest(org_id: int, lab: Lab, min_share: float) -> sa.ScalarSelect[float]:
    """The squared distance from `lab` to the image's nearest colour of `min_share` or more
    (a correlated subquery over `images`, for `sort_by=similarity`)."""
    rows = image_colors.c
    return (
        sa.select(sa.func.min(squared_distance(lab)))
        .where(rows.image_pk == images.c.id, rows.org_id == org_id, rows.share >= min_share)
        .scalar_subquery()
    )


def having(org_id: int, min_share: float, matches: Condition) -> Condition:
    rows = image_colors.c
    found = sa.select(rows.image_pk).where(rows.org_id == org_id, rows.share >= min_share, matches)
    return images.c.id.in_(found)
