"""The model-backed analyse steps, and the caption encoder, built from the loaded models."""

from __future__ import annotations

import numpy as np
from anyio import to_thread

from pixsearch.ingest.decode import Decoded
from pixsearch.ingest.pipeline import AnalyseStep, Analysis
from pixsearch.monitoring.metrics import Metrics
from pixsearch.runtimes.batcher import BatchObserver, MicroBatcher
from pixsearch.runtimes.clip import ClipModel
from pixsearch.runtimes.faces import FaceDetector
from pixsearch.runtimes.registry import Models
from pixsearch.runtimes.text import TextModel

BATCH_WAIT_MS = 5.0  # how long a batch waits to fill; small next to one inference


class FacesStep:
    """n_faces, from the face detector."""

    name = "faces"

    def __init__(self, detector: FaceDetector) -> None:
        self.detector = detector

    async def run(self, decoded: Decoded, analysis: Analysis) -> None:
        analysis.values["n_faces"] = await to_thread.run_sync(
            self.detector.count_faces, decoded.image
        )


class ClipStep:
    """The CLIP image embedding, batched across images and operations."""

    name = "clip"

    def __init__(self, model: ClipModel, max_batch: int, metrics: Metrics | None = None) -> None:
        self.model = model
        self.batcher: MicroBatcher[np.ndarray, np.ndarray] = MicroBatcher(
            model.embed_pixels,
            max_batch=max_batch,
            max_wait_ms=BATCH_WAIT_MS,
            on_batch=_observer(metrics, model.name),
        )

    async def run(self, decoded: Decoded, analysis: Analysis) -> None:
        # Resizing runs beside other images' fetches; only the encoder itself is batched.
        pixels = await to_thread.run_sync(self.model.preprocess, decoded.image)
        vector = await self.batcher.submit(pixels)
        analysis.vectors["clip"] = (self.model.name, vector)


class SentenceCaptions:
    """Caption embeddings from the sentence model, batched like images."""

    def __init__(self, model: TextModel, max_batch: int, metrics: Metrics | None = None) -> None:
        self.model = model
        self.model_name = model.name
        self.batcher: MicroBatcher[str, np.ndarray] = MicroBatcher(
            model.embed_texts,
            max_batch=max_batch,
            max_wait_ms=BATCH_WAIT_MS,
            on_batch=_observer(metrics, model.name),
        )

    async def embed(self, text: str) -> np.ndarray:
        return await self.batcher.submit(text)


def _observer(metrics: Metrics | None, model: str) -> BatchObserver | None:
    """What reports each inference batch of `model` to the metrics."""
    if metrics is None:
        return None
    return lambda size, seconds: metrics.observe_batch(model, size, seconds)


def build_steps(
    models: Models, max_batch: int, metrics: Metrics | None = None
) -> list[AnalyseStep]:
    """The analyse steps that the configured models allow, in order."""
    steps: list[AnalyseStep] = []
    if models.faces is not None:
        steps.append(FacesStep(models.faces))
    if models.clip is not None:
        steps.append(ClipStep(models.clip, max_batch, metrics))
    return steps


def build_captions(
    models: Models, max_batch: int, metrics: Metrics | None = None
) -> SentenceCaptions | None:
    if models.text is None:
        return None
    return SentenceCaptions(models.text, max_batch, metrics)
