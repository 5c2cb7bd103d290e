"""The prepare step: fetch, decode and analyse what each item needs. Writes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from pixsearch.errors import ItemError
from pixsearch.images.fields import CAPTION_FIELDS
from pixsearch.ingest.pipeline import CaptionEncoder, Pipeline
from pixsearch.operations.apply import Prepared
from pixsearch.operations.plan import caption_text, new_fields, plan_item
from pixsearch.operations.store import Claimed, Item

# What prepare reads of an existing image: whether src changes, and the caption's text.
# Apply reads whole rows again, in its own transaction.
PREPARE_COLUMNS = ("src", *CAPTION_FIELDS)


async def prepare_items(
    op: Claimed,
    items: Sequence[Item],
    existing: dict[str, dict[str, Any]],
    pipeline: Pipeline,
    captions: CaptionEncoder | None,
) -> list[Prepared]:
    """Analyse every item concurrently (the pipeline bounds how many at once)."""
    return list(
        await asyncio.gather(
            *(_prepare(op, item, existing.get(item.image_id), pipeline, captions) for item in items)
        )
    )


async def _prepare(
    op: Claimed,
    item: Item,
    current: dict[str, Any] | None,
    pipeline: Pipeline,
    captions: CaptionEncoder | None,
) -> Prepared:
    plan = plan_item(op.mode, op.strict, current, item.body)
    if plan.action in ("fail", "skip", "delete"):
        return Prepared()
    prepared = Prepared()
    if plan.needs_pixels:
        src = (item.body or {}).get("src") or (current or {}).get("src")
        try:
            analysis = await pipeline.analyse_url(str(src))
        except ItemError as error:
            return Prepared(error=str(error))
        prepared.values = analysis.values
        prepared.vectors.update(analysis.vectors)
    if captions is not None:
        text = caption_text(new_fields(plan, current, item.body, partial=True))
        old = caption_text(current) if current is not None else ""
        if text and (text != old or op.mode == "reembed" or current is None):
            prepared.vectors["caption"] = (captions.model_name, await captions.embed(text))
    return prepared
