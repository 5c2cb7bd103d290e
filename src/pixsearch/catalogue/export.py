"""Every image of an organisation (or those a formula matches) as JSON Lines that
`pixsearch import` reads back: `id` plus the fields that are set."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TextIO

from pixsearch.client.sync import Client
from pixsearch.vocabulary.fields import WRITABLE_FIELDS


def export_rows(
    client: Client, out: TextIO, q: str = "", fields: Iterable[str] | None = None
) -> int:
    """Write the images as JSON Lines, by image id; how many were written."""
    wanted = list(fields) if fields else list(WRITABLE_FIELDS)
    written = 0
    for image in client.iter_search(q, sort_by="image_id", fields=["image_id", *wanted]):
        values = image.model_dump(include=set(wanted), exclude_none=True)
        row = {"id": image.image_id, **{name: values[name] for name in wanted if name in values}}
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        written += 1
    return written
