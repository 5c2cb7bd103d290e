"""The prepare step: fetch, decode and analyse what each item needs. Writes nothing."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence

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
    """Analyse every item that needs it, at most PIXSEARCH_WORKERS at once per operation
    (the pipeline shares its slots fairly between the operations of the process).

    Items with nothing to compute (deletes, metadata-only changes that leave the caption
    as it was) are settled here without a task: a batch of 10,000 patches costs no event
    loop time.
    """
    prepared = [Prepared() for _ in items]
    jobs: list[tuple[int, Job]] = []
    for index, item in enumerate(items):
        current = existing.get(item.image_id)
        plan = plan_item(op.mode, op.strict, current, item.body)
        if plan.action in (Action.FAIL, Action.SKIP, Action.DELETE):
            continue
        text = _caption_to_embed(op, plan, current, item, captions)
        if plan.needs_pixels or text:
            src = (item.body or {}).get("src") or (current or {}).get("src")
            url = str(src) if plan.needs_pixels else None
            job = functools.partial(_prepare, op.id, url, text, op.lang, pipeline, captions)
            jobs.append((index, job))
    results = await run_bounded([job for _, job in jobs], pipeline.settings.workers)
    for (index, _), result in zip(jobs, results, strict=True):
        prepared[index] = result
    return prepared


Job = Callable[[], Awaitable[Prepared]]


async def run_bounded(jobs: Sequence[Job], limit: int) -> list[Prepared]:
    """Run `jobs`, `limit` at once, in order; a task per runner, not per job (a batch of
    10,000 waits as a list, not as 10,000 tasks)."""
    results: list[Prepared] = [Prepared() for _ in jobs]
    pending = iter(enumerate(jobs))

    async def runner() -> None:
        for index, job in pending:
            results[index] = await job()

    await asyncio.gather(*(runner() for _ in range(min(limit, len(jobs)))))
    return results


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
    op_id: int,
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
            analysis = await pipeline.analyse_url(src, lang, flow=op_id)
        except ItemError as error:
            return Prepared(error=str(error), cause=error.cause)
        prepared.values = analysis.values
        prepared.vectors.update(analysis.vectors)
        prepared.faces = analysis.faces
    if text is not None and captions is not None:
        prepared.vectors["caption"] = (captions.model_name, await captions.embed(text))
    return prepared
