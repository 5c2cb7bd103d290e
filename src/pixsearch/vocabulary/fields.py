"""The image's fields, grouped by kind: the one list that tables, schemas and search share."""

from __future__ import annotations

from typing import Literal

URL_FIELDS = ("src", "url_img_watermark", "url_img_thumbnail")
# Free text that full-text search and caption embeddings read.
PROSE_FIELDS = ("title", "headline", "caption", "alt_text")
# Short strings: equality, prefix and alphabetical filters, facets.
LABEL_FIELDS = (
    "status",
    "location",
    "city",
    "country",
    "event",
    "author",
    "provider",
    "shot",
    "scene",
    "technique",
    "medium",
)
BOOL_FIELDS = ("ai_generated", "model_release", "property_release", "nsfw")
LIST_FIELDS = ("keywords", "categories", "collections")
DATE_FIELD = "date"

WRITABLE_FIELDS = (
    *URL_FIELDS,
    *PROSE_FIELDS,
    *BOOL_FIELDS,
    *LABEL_FIELDS,
    DATE_FIELD,
    *LIST_FIELDS,
)
COMPUTED_FIELDS = ("width", "height", "aspect_ratio", "orientation", "n_faces")
# Computed lists: readable, not sortable; search results carry them only when asked.
COMPUTED_LISTS = ("faces",)
# Every column the analysis of the pixels and bytes writes (the API shows COMPUTED_FIELDS).
ANALYSED_COLUMNS = (
    *COMPUTED_FIELDS,
    *COMPUTED_LISTS,
    "phash",
    "content_type",
    "byte_size",
    "sha256",
)
READABLE_FIELDS = ("image_id", *WRITABLE_FIELDS, *COMPUTED_FIELDS, *COMPUTED_LISTS)
RESULT_FIELDS = ("image_id", *WRITABLE_FIELDS, *COMPUTED_FIELDS)

# Fields whose change means the caption embedding must be recomputed.
CAPTION_FIELDS = (*PROSE_FIELDS, "keywords", "categories", "event", "location", "city", "country")

# Languages of query text and of generated keywords.
LANGS = ("en", "es", "pt", "fr", "ru")

FieldName = Literal[READABLE_FIELDS]  # type: ignore[valid-type]
Lang = Literal[LANGS]  # type: ignore[valid-type]
