"""Resolve the configured models once at start: what is on, what is off, and why.

Never downloads: a hub name is looked up under the data directory, where
`pixsearch models pull` put it. Weights load lazily, or all at once with `warm_up`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from pixsearch.config import Settings
from pixsearch.runtimes.base import ModelLayoutError, missing_files, model_kind
from pixsearch.runtimes.clip import DEFAULT_IMAGE_THRESHOLDS, ClipModel
from pixsearch.runtimes.efficientnet import EfficientNetLite, open_classifier
from pixsearch.runtimes.faces import DetectorUnavailable, FaceDetector, open_face_detector
from pixsearch.runtimes.identities import FaceIdentifier
from pixsearch.runtimes.ocr import TextReader, open_text_reader
from pixsearch.runtimes.tagger import Tagger, TaggerUnavailable
from pixsearch.runtimes.text import TextModel

log = logging.getLogger(__name__)


def local_dir(settings: Settings, name: str) -> Path:
    """Where a model lives: the path itself if it is a directory, else its pulled copy."""
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    return settings.models_dir / name.replace("/", "--")


@dataclass(frozen=True)
class ImageModel:
    """The model whose vectors `i~` compares: CLIP when present, else the classifier's."""

    name: str
    image_thresholds: dict[str, float]

    def threshold(self, op: str) -> float:
        return self.image_thresholds.get(op, DEFAULT_IMAGE_THRESHOLDS[op])


@dataclass
class Models:
    """The loaded models; None for each one that is off."""

    clip: ClipModel | None = None
    text: TextModel | None = None
    faces: FaceDetector | None = None
    identities: FaceIdentifier | None = None
    classifier: EfficientNetLite | None = None
    tagger: Tagger | None = None
    ocr: TextReader | None = None
    colors: bool = False
    reasons: dict[str, str] = field(default_factory=dict)  # why each off one is off

    @property
    def image_model(self) -> ImageModel | None:
        """Whose vectors are the image embedding (`i~`): CLIP, else EfficientNet-Lite."""
        if self.clip is not None:
            return ImageModel(self.clip.name, self.clip.image_thresholds)
        if self.classifier is not None:
            return ImageModel(self.classifier.name, self.classifier.image_thresholds)
        return None

    def status(self) -> dict[str, dict[str, object]]:
        """Each representation: on or off, and the model or the reason."""
        visual = self.image_model
        colors: dict[str, object] = {"on": True, "model": "oklab-kmeans"}
        return {
            "clip_embedding": self._state("clip", self.clip),
            "image_embedding": (
                {"on": True, "model": visual.name}
                if visual is not None
                else {"on": False, "reason": "no CLIP model and no classifier"}
            ),
            "caption_embedding": self._state("text", self.text),
            "faces": self._state("faces", self.faces),
            "face_identities": self._state("identities", self.identities),
            "tags": self._state("tags", self.classifier if self.tagger else None),
            "ocr": self._state("ocr", self.ocr),
            "colors": colors if self.colors else self._state("colors", None),
        }

    def _state(self, key: str, model: object | None) -> dict[str, object]:
        if model is None:
            return {"on": False, "reason": self.reasons.get(key, "not configured")}
        return {"on": True, "model": getattr(model, "name", str(model))}

    def warm_up(self) -> None:
        """Load every model now rather than on first use."""
        for model in (self.clip, self.text):
            if model is not None:
                model.load()
        for runtime in (self.faces, self.identities, self.classifier, self.tagger, self.ocr):
            if runtime is not None:
                runtime.load()


def open_models(settings: Settings) -> Models:
    """The configured models that are present; a log line for each that is not."""
    models = Models()
    threads, batch = settings.inference_threads, settings.inference_batch
    for key, name in (("clip", settings.clip_model), ("text", settings.text_model)):
        if not name:
            models.reasons[key] = "not configured (empty setting)"
            continue
        path = local_dir(settings, name)
        reason = layout_problem(path, key, name)
        if reason:
            models.reasons[key] = reason
            log.warning("%s model off: %s", key, reason)
            continue
        if key == "clip":
            models.clip = ClipModel(path, threads=threads, max_batch=batch)
        else:
            models.text = TextModel(path, threads=threads, max_batch=batch)
    if settings.face_detector == "off":
        models.reasons["faces"] = "turned off (PIXSEARCH_FACE_DETECTOR=off)"
    else:
        try:
            models.faces = open_face_detector(settings.face_detector)
        except DetectorUnavailable as error:
            models.reasons["faces"] = str(error)
            log.warning("face detector off: %s", error)
    open_identities(settings, models)
    open_visual(settings, models)
    return models


def open_identities(settings: Settings, models: Models) -> None:
    """Face identities need a detector (for the boxes) and the people extra."""
    if not settings.face_identities:
        models.reasons["identities"] = "turned off (PIXSEARCH_FACE_IDENTITIES=false)"
    elif models.faces is None:
        models.reasons["identities"] = "needs a face detector: " + models.reasons["faces"]
    else:
        try:
            models.identities = FaceIdentifier()
        except DetectorUnavailable as error:
            models.reasons["identities"] = str(error)
            log.warning("face identities off: %s", error)


def open_visual(settings: Settings, models: Models) -> None:
    """The classifier and its tagger, OCR and colours, each on unless off or missing."""
    try:
        models.classifier = open_classifier(settings.classifier)
    except DetectorUnavailable as error:
        models.reasons["tags"] = f"classifier off: {error}"
        log.warning("classifier off: %s", error)
    if models.classifier is not None:
        try:
            models.tagger = Tagger(settings.wordnet_dir, models.classifier.labels)
        except TaggerUnavailable as error:
            models.reasons["tags"] = str(error)
            log.warning("tags off: %s", error)
    try:
        models.ocr = open_text_reader(settings.ocr)
    except DetectorUnavailable as error:
        models.reasons["ocr"] = str(error)
    models.colors = settings.colors == "on"
    if not models.colors:
        models.reasons["colors"] = "turned off (PIXSEARCH_COLORS=off)"


def layout_problem(path: Path, kind: str, name: str) -> str | None:
    """Why `path` cannot serve as the `kind` model `name`; None when it can."""
    if not path.is_dir():
        return (
            f"model {name!r} not found at {path}; run `pixsearch models pull {name}` "
            "or point the setting at a local directory"
        )
    try:
        found = model_kind(path)
    except ModelLayoutError as error:
        return str(error)
    if found != kind:
        return f"{path} holds a {found} model, not a {kind} model"
    missing = missing_files(path, kind)
    if missing:
        return f"{path} lacks {', '.join(missing)}"
    return None
