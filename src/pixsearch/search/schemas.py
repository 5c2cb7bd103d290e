"""The parameters and the answer of GET /imgs (spec/API.md section 6)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from pixsearch.images.schemas import Image
from pixsearch.vocabulary.fields import (
    BOOL_FIELDS,
    COMPUTED_FIELDS,
    DATE_FIELD,
    LABEL_FIELDS,
    LIST_FIELDS,
    PROSE_FIELDS,
    URL_FIELDS,
)

# `sort_by` takes the image id and every scalar field (not the lists).
SORT_FIELDS = (
    "image_id",
    *URL_FIELDS,
    *PROSE_FIELDS,
    *BOOL_FIELDS,
    *LABEL_FIELDS,
    DATE_FIELD,
    *COMPUTED_FIELDS,
)
# Sorted alphabetically ignoring case (the others in their natural order).
TEXT_SORT_FIELDS = frozenset(("image_id", *URL_FIELDS, *PROSE_FIELDS, *LABEL_FIELDS))
SIMILARITY_SORTS = ("similarity", "sim")
FACET_FIELDS = (
    *BOOL_FIELDS,
    "orientation",
    *LABEL_FIELDS,
    *LIST_FIELDS,
    "tags",
)

SortBy = Literal["", "similarity", "sim", *SORT_FIELDS]  # type: ignore[valid-type]
SortOrder = Literal["asc", "desc"]
FacetName = Literal[FACET_FIELDS]  # type: ignore[valid-type]


class FacetValue(BaseModel):
    """One value of a facet and how many of the hits have it."""

    value: str | bool = Field(description="The value (a boolean for the boolean fields).")
    count: int = Field(description="Hits with this value.")


class Hit(Image):
    """An image of the results; `score` only when the formula has a similarity filter."""

    score: float | None = Field(None, description="Higher is better.")


class SearchAnswer(BaseModel):
    """One page of hits, their total, and the facets of all hits."""

    results: list[Hit] = Field(
        description="Images, projected to `fields` when given; each with `score` (higher is "
        "better) when the formula has a similarity filter."
    )
    count: int | None = Field(description="Total hits; null with count=false.")
    facets: dict[str, list[FacetValue]] = Field(
        description="For each requested facet, its most frequent values among all hits "
        "(count descending, then value ascending)."
    )
