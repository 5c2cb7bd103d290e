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
from pixsearch.runtimes.clip import ClipModel
from pixsearch.runtimes.faces import DetectorUnavailable, FaceDetector, open_face_detector
from pixsearch.runtimes.identities import FaceIdentifier
from pixsearch.runtimes.text import TextModel

log = logging.getLogger(__name__)


def local_dir(settings: Settings, name: str) -> Path:
    """Where a model lives: the path itself if it is a directory, else its pulled copy."""
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    return settings.models_dir / name.replace("/", "--")


@dataclass
class Models:
    """The loaded models; None for each one that is off."""

    clip: ClipModel | None = None
    text: TextModel | None = None
    faces: FaceDetector | None = None
    identities: FaceIdentifier | None = None
    reasons: dict[str, str] = field(default_factory=dict)  # why each off one is off

    def status(self) -> dict[str, dict[str, object]]:
        """Each representation: on or off, and the model or the reason."""
        return {
            "clip_embedding": self._state("clip", self.clip),
            "caption_embedding": self._state("text", self.text),
            "faces": self._state("faces", self.faces),
            "face_identities": self._state("identities", self.identities),
        }

    def _state(
        self, key: str, model: ClipModel | TextModel | FaceDetector | FaceIdentifier | None
    ) -> dict[str, object]:
        if model is None:
            return {"on": False, "reason": self.reasons.get(key, "not configured")}
        return {"on": True, "model": model.name}

    def warm_up(self) -> None:
        """Load every model now rather than on first use."""
        for model in (self.clip, self.text):
            if model is not None:
                model.load()
        if self.faces is not None:
            self.faces.load()
        if self.identities is not None:
            self.identities.load()


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
