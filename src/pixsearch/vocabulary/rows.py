"""A stored image row as the code reads it: every column of `images`, by name.

`total=False`: prepare loads only some columns (`load_existing(columns=...)`). Code that
reads a column named by a variable uses `.get(name)`; `tests/vocabulary` proves the keys
are the table's columns.
"""

from __future__ import annotations

from typing import TypedDict


class ImageRow(TypedDict, total=False):
    id: int  # internal row id: FTS rowid, vector row
    org_id: int
    image_id: str
    src: str | None
    url_img_watermark: str | None
    url_img_thumbnail: str | None
    title: str | None
    headline: str | None
    caption: str | None
    alt_text: str | None
    ai_generated: bool | None
    model_release: bool | None
    property_release: bool | None
    nsfw: bool | None
    status: str | None
    location: str | None
    city: str | None
    country: str | None
    event: str | None
    author: str | None
    provider: str | None
    shot: str | None
    scene: str | None
    technique: str | None
    medium: str | None
    date: str | None
    keywords: list[str] | None
    categories: list[str] | None
    collections: list[str] | None
    width: int | None
    height: int | None
    aspect_ratio: float | None
    orientation: str | None
    n_faces: int | None
    faces: list[dict[str, object]] | None  # [{"n", "box", "score"}]
    phash: int | None
    content_type: str | None
    byte_size: int | None
    sha256: str | None
    created_at: int
    updated_at: int
