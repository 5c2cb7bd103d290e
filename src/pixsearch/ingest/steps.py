"""The model-backed analyse steps, and the caption encoder, built from the loaded models."""

from __future__ import annotations

import numpy as np
from anyio import to_thread

from pixsearch.ingest.colors import dominant_colors
from pixsearch.ingest.decode import Decoded
from pixsearch.ingest.pipeline import AnalyseStep, Analysis
from pixsearch.runtimes.batcher import MicroBatcher
from pixsearch.runtimes.clip import ClipModel
from pixsearch.runtimes.efficientnet import EfficientNetLite
from pixsearch.runtimes.faces import FaceDetector
from pixsearch.runtimes.ocr import TextReader
from pixsearch.runtimes.registry import Models
from pixsearch.runtimes.tagger import Tagger
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

    def __init__(self, model: ClipModel, max_batch: int) -> None:
        self.model = model
        self.batcher: MicroBatcher[np.ndarray, np.ndarray] = MicroBatcher(
            model.embed_pixels, max_batch=max_batch, max_wait_ms=BATCH_WAIT_MS
        )

    async def run(self, decoded: Decoded, analysis: Analysis) -> None:
        # Resizing runs beside other images' fetches; only the encoder itself is batched.
        pixels = await to_thread.run_sync(self.model.preprocess, decoded.image)
        vector = await self.batcher.submit(pixels)
        analysis.vectors["clip"] = (self.model.name, vector)


class ClassifierStep:
    """EfficientNet-Lite: `tags` (with the tagger) and, without CLIP, the image embedding."""

    name = "classifier"

    def __init__(self, classifier: EfficientNetLite, tagger: Tagger | None, embed: bool) -> None:
        self.classifier = classifier
        self.tagger = tagger
        self.embed = embed

    async def run(self, decoded: Decoded, analysis: Analysis) -> None:
        seen = await to_thread.run_sync(self.classifier.see, decoded.image)
        if self.embed:
            analysis.vectors["clip"] = (self.classifier.name, seen.vector)
        if self.tagger is not None:
            scored = await to_thread.run_sync(self.tagger.scored, seen.probabilities)
            synsets = [synset for synset, _ in scored]
            analysis.values["tags"] = self.tagger.words_of(synsets, analysis.lang)
            analysis.values["tag_text"] = self.tagger.search_text(scored, analysis.lang)


class ColorsStep:
    """`colors`: the dominant colours."""

    name = "colors"

    async def run(self, decoded: Decoded, analysis: Analysis) -> None:
        colors = await to_thread.run_sync(dominant_colors, decoded.image)
        analysis.values["colors"] = [color.as_json() for color in colors]


class OcrStep:
    """`ocr_text`: the text read in the image (None when there is none)."""

    name = "ocr"

    def __init__(self, reader: TextReader) -> None:
        self.reader = reader

    async def run(self, decoded: Decoded, analysis: Analysis) -> None:
        text = await to_thread.run_sync(self.reader.read, decoded.image)
        analysis.values["ocr_text"] = text or None


class SentenceCaptions:
    """Caption embeddings from the sentence model, batched like images."""

    def __init__(self, model: TextModel, max_batch: int) -> None:
        self.model = model
        self.model_name = model.name
        self.batcher: MicroBatcher[str, np.ndarray] = MicroBatcher(
            model.embed_texts, max_batch=max_batch, max_wait_ms=BATCH_WAIT_MS
        )

    async def embed(self, text: str) -> np.ndarray:
        return await self.batcher.submit(text)


def build_steps(models: Models, max_batch: int) -> list[AnalyseStep]:
    """The analyse steps that the configured models allow, in order."""
    steps: list[AnalyseStep] = []
    if models.faces is not None:
        steps.append(FacesStep(models.faces))
    if models.clip is not None:
        steps.append(ClipStep(models.clip, max_batch))
    if models.classifier is not None:
        embed = models.clip is None
        steps.append(ClassifierStep(models.classifier, models.tagger, embed))
    if models.colors:
        steps.append(ColorsStep())
    if models.ocr is not None:
        steps.append(OcrStep(models.ocr))
    return steps


def build_captions(models: Models, max_batch: int) -> SentenceCaptions | None:
    return SentenceCaptions(models.text, max_batch) if models.text is not None else None
