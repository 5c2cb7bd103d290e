"""The base of every model: a directory of files, loaded lazily once, then asked to predict.

A model directory holds ONNX graphs, a `tokenizer.json` and a small `config.json`
(see docs and `LAYOUTS`). Reading the config is cheap and happens at construction, so
the dimension and thresholds are known before any weight is loaded; the ONNX sessions
are created on first use (or by `Models.warm_up`), once, whatever the concurrency.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

log = logging.getLogger(__name__)

In = TypeVar("In")
Out = TypeVar("Out")

# The files each kind of model directory must hold.
LAYOUTS: dict[str, tuple[str, ...]] = {
    "clip": ("visual.onnx", "textual.onnx", "tokenizer.json", "config.json"),
    "text": ("model.onnx", "tokenizer.json", "config.json"),
}
HASH_CHARS = 12  # 48 bits of SHA-256: two different weights never meet by chance


class ModelLayoutError(ValueError):
    """A model directory lacks a file, or its config.json is unreadable or incomplete."""


def model_kind(path: Path) -> str:
    """`clip` or `text`: the config's `kind`, or guessed from which graph files are present."""
    config = path / "config.json"
    if config.is_file():
        kind = read_config(path).get("kind")
        if isinstance(kind, str):
            return kind
    if (path / "visual.onnx").is_file():
        return "clip"
    if (path / "model.onnx").is_file():
        return "text"
    raise ModelLayoutError(f"{path} holds neither visual.onnx (CLIP) nor model.onnx (text)")


def missing_files(path: Path, kind: str) -> list[str]:
    """The files of the `kind` layout that `path` lacks."""
    return [name for name in LAYOUTS[kind] if not (path / name).is_file()]


def read_config(path: Path) -> dict[str, Any]:
    """The parsed `config.json` of the model directory `path`."""
    file = path / "config.json"
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelLayoutError(f"{file} does not exist") from None
    except (OSError, ValueError) as error:
        raise ModelLayoutError(f"{file} is not readable JSON: {error}") from None
    if not isinstance(config, dict):
        raise ModelLayoutError(f"{file} must hold a JSON object")
    return config


def require(config: dict[str, Any], key: str, path: Path) -> Any:
    """`config[key]`, or an error naming the file and the missing key."""
    if key not in config:
        raise ModelLayoutError(f"{path / 'config.json'} lacks {key!r}")
    return config[key]


def digest_files(paths: list[Path]) -> str:
    """A short SHA-256 over the contents of `paths`, in order."""
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as file:
            digest.update(hashlib.file_digest(file, "sha256").digest())
    return digest.hexdigest()[:HASH_CHARS]


def model_label(config: dict[str, Any], path: Path) -> str:
    """A readable label: the last part of the config's name, else of the directory name.

    Only the last part, so a hub copy (`owner--repo`) and a local copy of the same
    weights get the same identity.
    """
    name = config.get("name")
    label = name if isinstance(name, str) and name else path.resolve().name
    return label.replace("--", "/").rsplit("/", 1)[-1]


class InferenceModel(ABC, Generic[In, Out]):
    """A model directory whose ONNX sessions are created on first use, once."""

    kind: ClassVar[str]
    # The weight files whose contents define the model's identity (its `name`).
    weight_files: ClassVar[tuple[str, ...]]

    def __init__(self, path: Path, *, threads: int = 0, max_batch: int = 16) -> None:
        self.path = path
        self.threads = threads
        self.max_batch = max_batch
        missing = missing_files(path, self.kind)
        if missing:
            raise ModelLayoutError(f"{path} lacks {', '.join(missing)}")
        self.config = read_config(path)
        self.loads = 0  # how many times the weights were loaded: once, says the contract
        self._loaded = False
        self._load_lock = threading.Lock()
        self._name: str | None = None
        self._name_lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._loaded

    def load(self) -> None:
        """Create the ONNX sessions unless done already; concurrent callers wait for one load."""
        if self._loaded:
            return
        with self._load_lock:
            if self._loaded:
                return
            started = time.perf_counter()
            self._load()
            # Hash the weights now, in the loading thread, not later on an event loop.
            _ = self.name
            self.loads += 1
            self._loaded = True
            log.info("%s model %s loaded in %.2f s", self.kind, self.path, _since(started))

    def predict(self, inputs: In) -> Out:
        """Load if needed, then run the model on `inputs`."""
        self.load()
        return self._predict(inputs)

    @property
    def name(self) -> str:
        """Identity stored with every vector: a label plus a hash of the weights' bytes."""
        if self._name is None:
            with self._name_lock:
                if self._name is None:
                    files = [self.path / name for name in self.weight_files]
                    self._name = f"{model_label(self.config, self.path)}@{digest_files(files)}"
        return self._name

    @property
    @abstractmethod
    def dim(self) -> int:
        """Length of the vectors this model produces."""

    @abstractmethod
    def _load(self) -> None:
        """Create sessions and tokenizers; runs once, under the load lock."""

    @abstractmethod
    def _predict(self, inputs: In) -> Out:
        """Run the loaded model."""


def _since(started: float) -> float:
    return time.perf_counter() - started
