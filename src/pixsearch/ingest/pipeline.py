"""From a URL to an image's representations: fetch, decode, then a sequence of analyse steps.

Adding a representation is adding a step. Steps that run a model go through a
micro-batcher, so images of one operation and of concurrent operations share batches
while other images are still being fetched and decoded.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from anyio import to_thread

from pixsearch.config import Settings
from pixsearch.ingest.analyse import describe
from pixsearch.ingest.decode import Decoded, decode_image
from pixsearch.ingest.fetch import Fetcher
from pixsearch.ingest.slots import FairShare

# A small decode is enough for the hash, faces and CLIP; JPEG draft mode makes it cheap.
DEFAULT_DRAFT = (320, 320)
# Face identities want more pixels: a face 40 px wide (the smallest given an identity) in a
# 640 px decode is 20 px in a 320 px one.
IDENTITY_DRAFT = (640, 640)
# Text needs more pixels: the OCR detector reads images of up to 640 on the long side.
OCR_DRAFT = (640, 640)


@dataclass
class Analysis:
    """The representations of one image."""

    values: dict[str, Any] = field(default_factory=dict)  # columns of `images`
    vectors: dict[str, tuple[str, np.ndarray]] = field(default_factory=dict)
    # (face model, [(face number, descriptor, None when too small)]), when computed.
    faces: tuple[str, list[tuple[int, np.ndarray | None]]] | None = None
    lang: str = "en"  # the language of generated keywords (the operation's `lang`)


class AnalyseStep(Protocol):
    """One representation computed from decoded pixels, after size and hash."""

    name: str

    async def run(self, decoded: Decoded, analysis: Analysis) -> None: ...


class Timings:
    """Seconds spent per stage, summed over images: where the time goes (benchmarks read it)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def add(self, stage: str, started: float) -> None:
        self.seconds[stage] += time.perf_counter() - started


class Pipeline:
    """Fetch, decode and analyse images with bounded concurrency."""

    def __init__(
        self,
        settings: Settings,
        fetcher: Fetcher,
        steps: list[AnalyseStep],
        draft_size: tuple[int, int] = DEFAULT_DRAFT,
    ) -> None:
        self.settings = settings
        self.fetcher = fetcher
        self.steps = steps
        self.draft_size = draft_size
        self.timings = Timings()
        # Decoding and analysing is shared fairly between operations, like downloading:
        # the items of a newcomer are not queued behind another operation's thousands.
        self._slots = FairShare(settings.workers)

    async def analyse_url(self, url: str, lang: str = "en", flow: Hashable = None) -> Analysis:
        """Every representation of the image at `url`, generated keywords in `lang`; raises
        an ItemError naming the cause.

        `flow` (the operation) is what download and analyse slots are shared fairly between.
        """
        started = time.perf_counter()
        fetched = await self.fetcher.fetch(url, flow)
        self.timings.add("fetch", started)
        async with self._slots.slot(flow):
            started = time.perf_counter()
            decoded = await to_thread.run_sync(self._decode, fetched.data)
            self.timings.add("decode", started)
            started = time.perf_counter()
            values = await to_thread.run_sync(describe, decoded, fetched)
            analysis = Analysis(values=values, lang=lang)
            self.timings.add("describe", started)
            for step in self.steps:
                started = time.perf_counter()
                await step.run(decoded, analysis)
                self.timings.add(step.name, started)
            return analysis

    def _decode(self, data: bytes) -> Decoded:
        return decode_image(data, max_pixels=self.settings.max_pixels, draft_size=self.draft_size)


class CaptionEncoder(Protocol):
    """Embeds an image's textual fields (the sentence model behind a micro-batcher)."""

    model_name: str

    async def embed(self, text: str) -> np.ndarray: ...
