"""Text in images (`ocr_text`) with RapidOCR: PP-OCRv6 small detection and recognition.

`rapidocr==3.10.0` carries the ONNX graphs inside its wheel (Apache-2.0) and runs them on
ONNX Runtime, so it works offline. Off by default (`PIXSEARCH_OCR=on` turns it on): it costs
0.3-2 s per image (docs/models.md). The settings below are the fast ones the issue measured
(no text-direction classifier, the longest side of the detector's input at most 640
pixels). Results below `MIN_SCORE`, and lines with fewer than `MIN_CHARACTERS` letters or
digits, are dropped: a coffee cup read as '8' at 0.81 is noise, not text.
One engine, called under a lock: RapidOCR does not say it is thread-safe, and one OCR
call already keeps a core busy.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from typing import Any

import numpy as np
from PIL import Image

from pixsearch.runtimes.base import digest_files
from pixsearch.runtimes.faces import DetectorUnavailable, package_file

MIN_SCORE = 0.5
MIN_CHARACTERS = 2
WORK_SIDE = 640
PARAMS: dict[str, Any] = {
    "Global.use_cls": False,
    "Det.limit_type": "max",
    "Det.limit_side_len": WORK_SIDE,
    "Global.log_level": "error",  # an image without text is no warning
}
DET_WEIGHTS = "rapidocr/models/PP-OCRv6_det_small.onnx"
REC_WEIGHTS = "rapidocr/models/PP-OCRv6_rec_small.onnx"


class TextReader:
    """Reads the text of an image; safe to call from several threads (one at a time)."""

    def __init__(self) -> None:
        if importlib.util.find_spec("rapidocr") is None:
            raise DetectorUnavailable("package 'rapidocr' is not installed")
        files = [package_file("rapidocr", DET_WEIGHTS), package_file("rapidocr", REC_WEIGHTS)]
        self.name = f"rapidocr-ppocrv6-small@{digest_files(files)}"
        self.size_bytes = sum(file.stat().st_size for file in files)
        self._engine: Any = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Create the engine now rather than on the first image."""
        with self._lock:
            self._open()

    def read(self, image: Image.Image) -> str:
        """The lines of text in `image`, top to bottom as the detector orders them."""
        pixels = np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
        with self._lock:
            result = self._open()(pixels)
        texts = getattr(result, "txts", None) or ()
        scores = getattr(result, "scores", None) or ()
        return "\n".join(keep_lines(list(texts), [float(s) for s in scores]))

    def _open(self) -> Any:
        if self._engine is None:
            from rapidocr import RapidOCR

            self._engine = RapidOCR(params=PARAMS)
            logging.getLogger("RapidOCR").setLevel(logging.ERROR)
        return self._engine


def keep_lines(texts: list[str], scores: list[float]) -> list[str]:
    """The confident lines with at least MIN_CHARACTERS letters or digits."""
    kept = []
    for text, score in zip(texts, scores, strict=False):
        line = " ".join(text.split())
        if score >= MIN_SCORE and sum(c.isalnum() for c in line) >= MIN_CHARACTERS:
            kept.append(line)
    return kept


def open_text_reader(choice: str) -> TextReader:
    """The OCR engine when `choice` is `on`; DetectorUnavailable (with the reason) otherwise."""
    if choice == "off":
        raise DetectorUnavailable("turned off (PIXSEARCH_OCR=off, the default; `on` reads text)")
    if choice != "on":
        raise DetectorUnavailable(f"unknown OCR setting {choice!r} (on, off)")
    return TextReader()
