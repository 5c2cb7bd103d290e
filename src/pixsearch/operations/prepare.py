"""The prepare step: fetch, decode and analyse what each item needs. Writes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from pixsearch.errors import ItemError
from pixsearch.ingest.pipeline import CaptionEncoder, Pipeline
from pixsearch.operations.plan import Plan, caption_text, new_fields, plan_item
from pixsearch.vocabulary.fields import CAPTION_FIELDS
from pixsearch.vocabulary.operations import REEMBED_MODES, Action, Claimed, Item, Prepared
from pixsearch.vocabulary.rows import ImageRow

# What prepare reads of an existing image: whether src changes, and the caption's text.
# Apply reads whole rows again, in its own transaction.
PREPARE_COLUMNS = ("src", *CAPTION_FIELDS)


async def prepare_items(
    op: Claimed,
    items: Sequence[Item],
    existing: dict[str, ImageRow],
    pipeline: Pipeline,
    captions: CaptionEncoder | None,
) -> list[Prepared]:
    """Analyse every item that needs it, concurrently (the pipeline bounds how many at once).

    Items with nothing to compute (deletes, metadata-only changes that leave the caption
    as it was) are settled here without a task: a batch of 10,000 patches costs no event
    loop time.
    """
    prepared = [Prepared() for _ in items]
    jobs: list[tuple[int, Any]] = []
    for index, item in enumerate(items):
        current = existing.get(item.image_id)
        plan = plan_item(op.mode, op.strict, current, item.body)
        if plan.action in (Action.FAIL, Action.SKIP, Action.DELETE):
            continue
        text = _caption_to_embed(op, plan, current, item, captions)
        if plan.needs_pixels or text:
            src = (item.body or {}).get("src") or (current or {}).get("src")
            url = src if plan.needs_pixels else None
            jobs.append((index, _prepare(url, text, op.lang, pipeline, captions)))
    results = await asyncio.gather(*(job for _, job in jobs))
    for (index, _), result in zip(jobs, results, strict=True):
        prepared[index] = result
    return prepared


def _caption_to_embed(
    op: Claimed,
    plan: Plan,
    current: ImageRow | None,
    item: Item,
    captions: CaptionEncoder | None,
) -> str | None:
    """The caption text to embed, when there is a sentence model and the text is new."""
    if captions is None:
        return None
    text = caption_text(new_fields(plan, current, item.body))
    old = caption_text(current) if current is not None else ""
    if text and (text != old or op.mode in REEMBED_MODES or current is None):
        return text
    return None


async def _prepare(
    src: str | None,
    text: str | None,
    lang: str,
    pipeline: Pipeline,
    captions: CaptionEncoder | None,
) -> Prepared:
    """Fetch and analyse `src` when given; embed `text` when given."""
    prepared = Prepared()
    if src is not None:
        try:
            analysis = await pipeline.analyse_url(str(src), lang)
        except ItemError as error:
            return Prepared(error=str(error), cause=error.cause)
        prepared.values = analysis.values
        prepared.vectors.update(analysis.vectors)
        prepared.faces = analysis.faces
    if text is not None and captions is not None:
        prepared.vectors["caption"] = (captions.model_name, await captions.embed(text))
    return prepared
