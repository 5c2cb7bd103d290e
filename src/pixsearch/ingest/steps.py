"""The model-backed analyse steps, and the caption encoder, built from the loaded models."""

from __future__ import annotations

import numpy as np
from anyio import to_thread
from PIL import Image

from pixsearch.ingest.decode import Decoded
from pixsearch.ingest.pipeline import AnalyseStep, Analysis
from pixsearch.monitoring.metrics import Metrics
from pixsearch.runtimes.batcher import BatchObserver, MicroBatcher
from pixsearch.runtimes.clip import ClipModel
from pixsearch.runtimes.faces import Detection, FaceDetector
from pixsearch.runtimes.identities import FaceIdentifier, IdentityPool
from pixsearch.runtimes.registry import Models
from pixsearch.runtimes.text import TextModel

BATCH_WAIT_MS = 5.0  # how long a batch waits to fill; small next to one inference


class FacesStep:
    """n_faces and the boxes (`faces`) from the face detector; with an identifier, the
    descriptor of each face large enough (`analysis.faces`)."""

    name = "faces"

    def __init__(
        self,
        detector: FaceDetector,
        identifier: FaceIdentifier | None = None,
        pool: IdentityPool | None = None,
    ) -> None:
        self.detector = detector
        self.identifier = identifier
        self.pool = pool  # computes the descriptors in child processes, when given

    async def run(self, decoded: Decoded, analysis: Analysis) -> None:
        found, descriptors = await to_thread.run_sync(self.analyse, decoded.image)
        analysis.values["n_faces"] = len(found)
        analysis.values["faces"] = face_boxes(found, decoded)
        if self.identifier is not None:
            analysis.faces = (self.identifier.name, list(enumerate(descriptors, start=1)))

    def analyse(self, image: Image.Image) -> tuple[list[Detection], list[np.ndarray | None]]:
        found = self.detector.detect_faces(image)
        if self.identifier is None:
            return found, []
        describe = self.pool.describe if self.pool is not None else self.identifier.describe
        return found, list(describe(image, found))


def face_boxes(found: list[Detection], decoded: Decoded) -> list[dict[str, object]]:
    """The API's `faces`: boxes in pixels of the whole oriented image (the analysed picture
    may be a smaller draft decode), numbered from 1 in the detector's order (largest first)."""
    scale_x = decoded.width / decoded.image.width
    scale_y = decoded.height / decoded.image.height
    return [
        {
            "n": n,
            "box": [
                round(face.x * scale_x),
                round(face.y * scale_y),
                round(face.width * scale_x),
                round(face.height * scale_y),
            ],
            "score": None if face.score is None else round(face.score, 3),
        }
        for n, face in enumerate(found, start=1)
    ]


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
    models: Models,
    max_batch: int,
    metrics: Metrics | None = None,
    identity_pool: IdentityPool | None = None,
) -> list[AnalyseStep]:
    """The analyse steps that the configured models allow, in order."""
    steps: list[AnalyseStep] = []
    if models.faces is not None:
        steps.append(FacesStep(models.faces, models.identities, identity_pool))
    if models.clip is not None:
        steps.append(ClipStep(models.clip, max_batch, metrics))
    return steps


def build_captions(
    models: Models, max_batch: int, metrics: Metrics | None = None
) -> SentenceCaptions | None:
    if models.text is None:
        return None
    return SentenceCaptions(models.text, max_batch, metrics)
