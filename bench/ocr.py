"""OCR word recall on rendered text (DejaVu fonts, sizes, rotations) and seconds per image.

Each picture is a 800 x 500 background (white, or a random light colour) with three lines
of random dictionary-like words in one DejaVu font at one size, rotated by one angle, saved
as a JPEG at quality 85 and decoded as ingestion decodes with OCR on. Recall is the share
of rendered words (2 letters or more) found among the words read, ignoring case; precision
the share of words read that were rendered. The chosen settings (runtimes/ocr.py) are
compared with RapidOCR's defaults on the same pictures.

    python -m bench.ocr [--images 48]
"""

from __future__ import annotations

import argparse
import io
import itertools
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pixsearch.ingest.decode import decode_image
from pixsearch.ingest.pipeline import OCR_DRAFT
from pixsearch.runtimes.ocr import PARAMS, keep_lines

FONTS = Path("/usr/share/fonts/truetype/dejavu")
FACES = ("DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf", "DejaVuSans-Bold.ttf")
SIZES = (16, 24, 36, 56)
ANGLES = (0, 5, 15, 30)
WORDS = (
    "hotel bakery station market coffee garden museum street river bridge open closed "
    "daily sale fresh bread north south avenue lisbon paris madrid summer winter exit "
    "entrance parking pharmacy library theatre harbour tickets platform welcome"
).split()


def render(rng: np.random.Generator, face: str, size: int, angle: int) -> tuple[bytes, list[str]]:
    background = (255, 255, 255) if rng.random() < 0.5 else tuple(rng.integers(200, 256, 3))
    image = Image.new("RGB", (800, 500), background)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(FONTS / face), size)
    words = []
    for line in range(3):
        chosen = [str(w) for w in rng.choice(WORDS, 3)]
        words += chosen
        draw.text((60, 80 + line * (size * 2)), " ".join(chosen).title(), fill="black", font=font)
    image = image.rotate(angle, expand=False, fillcolor=background)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue(), words


def read_words(engine: Any, image: Image.Image) -> tuple[list[str], float]:
    started = time.perf_counter()
    result = engine(np.asarray(image))
    seconds = time.perf_counter() - started
    texts = list(getattr(result, "txts", None) or ())
    scores = [float(s) for s in getattr(result, "scores", None) or ()]
    lines = keep_lines(texts, scores)
    return [w.lower() for line in lines for w in re.findall(r"[^\W_]{2,}", line)], seconds


def main() -> None:
    import logging

    from rapidocr import RapidOCR

    logging.getLogger("RapidOCR").setLevel(logging.ERROR)

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=48)
    args = parser.parse_args()
    rng = np.random.default_rng(3)
    cases = list(itertools.product(FACES, SIZES, ANGLES))
    rng.shuffle(cases)  # type: ignore[arg-type]
    cases = cases[: args.images]
    pictures = []
    for face, size, angle in cases:
        data, words = render(rng, face, size, angle)
        image = decode_image(data, max_pixels=10**8, draft_size=OCR_DRAFT).image
        pictures.append((face, size, angle, image, words))
    engines = {
        "chosen (no cls, max side 640)": RapidOCR(params=PARAMS),
        "rapidocr defaults": RapidOCR(params={"Global.log_level": "warning"}),
    }
    print(f"{len(pictures)} rendered JPEGs: fonts {len(FACES)}, sizes {SIZES} px, angles {ANGLES}")
    for name, engine in engines.items():
        engine(np.asarray(pictures[0][3]))  # warm up
        by: dict[str, list[float]] = {}
        total_found = total_words = total_read = total_right = 0
        seconds = []
        for face, size, angle, image, words in pictures:
            read, took = read_words(engine, image)
            seconds.append(took)
            found = sum(1 for w in words if w in read)
            total_found, total_words = total_found + found, total_words + len(words)
            total_read += len(read)
            total_right += sum(1 for w in read if w in words)
            for key in (f"size {size}", f"angle {angle}", face.removesuffix(".ttf")):
                by.setdefault(key, []).append(found / len(words))
        print(f"  {name}: word recall {total_found / total_words:.3f}, "
              f"precision {total_right / max(1, total_read):.3f}, "
              f"seconds per image median {np.median(seconds):.2f}, "
              f"mean {np.mean(seconds):.2f}, max {max(seconds):.2f}")  # fmt: skip
        print("    recall by " + ", ".join(f"{k} {np.mean(v):.2f}" for k, v in sorted(by.items())))


if __name__ == "__main__":
    main()
