"""Tag one picture synchronously (Wesog Tag's POST /tag/image): nothing is stored.

The picture is an upload or a URL fetched through the same guarded fetcher as ingestion,
with the same limits (bytes, pixels); the same models as the analyse steps compute what
was asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from anyio import to_thread

from pixsearch.config import Settings
from pixsearch.errors import InvalidInput, ItemError
from pixsearch.ingest.colors import dominant_colors
from pixsearch.ingest.decode import Decoded, decode_image
from pixsearch.ingest.fetch import Fetcher
from pixsearch.ingest.pipeline import DEFAULT_DRAFT, OCR_DRAFT
from pixsearch.runtimes.registry import Models

NOT_AVAILABLE = "not_available"


@dataclass(frozen=True)
class TagRequest:
    """What to compute, and in which language."""

    lang: str = "en"
    keywords: bool = True
    ocr: bool = False
    colors: bool = False
    caption: bool = False


def check_available(request: TagRequest, models: Models) -> None:
    """Refuse, before any download, what no configured model can compute."""
    if request.caption:
        raise InvalidInput(
            ("body", "caption"), "captions are not available: no captioning model", NOT_AVAILABLE
        )
    if request.keywords and models.tagger is None:
        reason = models.reasons.get("tags", "no classifier")
        raise InvalidInput(
            ("body", "keywords"), f"keywords are not available: {reason}", NOT_AVAILABLE
        )
    if request.ocr and models.ocr is None:
        reason = models.reasons.get("ocr", "OCR is off")
        raise InvalidInput(("body", "ocr"), f"OCR is not available: {reason}", NOT_AVAILABLE)
    if request.colors and not models.colors:
        raise InvalidInput(
            ("body", "colors"), "colours are not available: PIXSEARCH_COLORS=off", NOT_AVAILABLE
        )


async def fetch_picture(fetcher: Fetcher, src: str) -> bytes:
    """The bytes at `src`, or a 422 naming `src` and the cause (refused address, 404, ...)."""
    try:
        return (await fetcher.fetch(src)).data
    except ItemError as error:
        raise InvalidInput(("body", "src"), str(error)) from None


async def tag_picture(
    data: bytes, request: TagRequest, models: Models, settings: Settings
) -> dict[str, Any]:
    """Keywords, OCR text and colours of the picture `data`, as asked."""
    if len(data) > settings.fetch_max_bytes:
        raise InvalidInput(
            ("body", "image"),
            f"image of {len(data)} bytes is larger than the limit of {settings.fetch_max_bytes}",
        )
    draft = OCR_DRAFT if request.ocr else DEFAULT_DRAFT
    try:
        decoded = await to_thread.run_sync(
            lambda: decode_image(data, max_pixels=settings.max_pixels, draft_size=draft)
        )
    except ItemError as error:
        raise InvalidInput(("body", "image"), str(error)) from None
    return await to_thread.run_sync(describe_picture, decoded, request, models)


def describe_picture(decoded: Decoded, request: TagRequest, models: Models) -> dict[str, Any]:
    """Run the asked models on a decoded picture (in a worker thread)."""
    answer: dict[str, Any] = {"lang": request.lang}
    if request.keywords and models.classifier is not None and models.tagger is not None:
        seen = models.classifier.see(decoded.image)
        synsets = models.tagger.tag(seen.probabilities)
        answer["keywords"] = models.tagger.words_of(synsets, request.lang)
    if request.ocr and models.ocr is not None:
        answer["ocr_text"] = models.ocr.read(decoded.image)
    if request.colors:
        answer["colors"] = [color.as_json() for color in dominant_colors(decoded.image)]
    return answer
