"""Face detectors: precision, recall, exact counts and time per image, on labelled pictures.

The labelled sets come with scikit-image (install it for this bench only:
`pip install scikit-image`):

- `lfw`: `lfw_subset()`'s 100 face and 100 non-face patches (25 x 25 grey), upscaled
  4x and centred on a 200 x 200 canvas of their mean grey, so a face has some context;
- `groups`: the 100 faces four at a time on a 2 x 2 grid (25 pictures of 4 faces);
- `scenes`: the astronaut portrait (1 face) and 13 scientific or everyday pictures
  without people (a cat, coffee, coins, a rocket, textures, text, ...).

Faces are counted, not located: per picture, min(found, true) are hits, the excess is
false positives, the shortfall misses. Time per image is also measured on real
1-2 megapixel photos (/work/shared clothing set, draft-decoded as the pipeline does),
where only the share of pictures with a face is printed (they are not labelled).

    python -m bench.faces [--detectors blazeface,haar] [--photos 60]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from pixsearch.runtimes.faces import DetectorUnavailable, FaceDetector, open_face_detector

PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "clothing" / "images"
SCENES_WITHOUT_FACES = (
    "coffee", "chelsea", "rocket", "hubble_deep_field", "coins", "horse", "brick",
    "grass", "gravel", "page", "text", "colorwheel", "immunohistochemistry",
)  # fmt: skip
UPSCALE = 4
CANVAS = 200


@dataclass
class Score:
    hits: int = 0
    false_positives: int = 0
    misses: int = 0
    exact: int = 0
    pictures: int = 0
    seconds: list[float] = field(default_factory=list)

    def add(self, found: int, truth: int, seconds: float) -> None:
        self.hits += min(found, truth)
        self.false_positives += max(0, found - truth)
        self.misses += max(0, truth - found)
        self.exact += found == truth
        self.pictures += 1
        self.seconds.append(seconds)

    def absorb(self, other: Score) -> None:
        self.hits += other.hits
        self.false_positives += other.false_positives
        self.misses += other.misses
        self.exact += other.exact
        self.pictures += other.pictures
        self.seconds += other.seconds

    def row(self) -> str:
        found = self.hits + self.false_positives
        precision = self.hits / found if found else 1.0
        recall = self.hits / (self.hits + self.misses) if self.hits + self.misses else 1.0
        ms = 1000 * statistics.median(self.seconds)
        return (
            f"precision {precision:6.3f}  recall {recall:6.3f}  exact counts "
            f"{self.exact:3d}/{self.pictures:<3d}  FP {self.false_positives:3d}  "
            f"median {ms:6.1f} ms"
        )


def on_canvas(patch: np.ndarray) -> Image.Image:
    """A 25 x 25 patch in [0, 1], upscaled and centred on a canvas of its mean grey."""
    grey = Image.fromarray((patch * 255).astype(np.uint8))
    big = grey.resize((grey.width * UPSCALE, grey.height * UPSCALE), Image.Resampling.BICUBIC)
    canvas = Image.new("L", (CANVAS, CANVAS), int(patch.mean() * 255))
    canvas.paste(big, ((CANVAS - big.width) // 2, (CANVAS - big.height) // 2))
    return canvas.convert("RGB")


def labelled_sets() -> dict[str, list[tuple[Image.Image, int]]]:
    """Pictures with their true face counts, by set name."""
    from skimage import data

    patches = data.lfw_subset()
    faces, others = patches[:100], patches[100:]
    lfw = [(on_canvas(p), 1) for p in faces] + [(on_canvas(p), 0) for p in others]
    groups = []
    for start in range(0, len(faces), 4):
        grid = Image.new("RGB", (2 * CANVAS, 2 * CANVAS))
        for slot, patch in enumerate(faces[start : start + 4]):
            grid.paste(on_canvas(patch), ((slot % 2) * CANVAS, (slot // 2) * CANVAS))
        groups.append((grid, 4))
    scenes = [(Image.fromarray(data.astronaut()), 1)]
    scenes += [
        (Image.fromarray(getattr(data, name)()).convert("RGB"), 0) for name in SCENES_WITHOUT_FACES
    ]
    return {"lfw": lfw, "groups": groups, "scenes": scenes}


def real_photos(limit: int) -> Iterator[Image.Image]:
    """Clothing photos, decoded as the ingest pipeline does (JPEG draft near 512 px)."""
    for path in sorted(PHOTOS.rglob("*.jpg"))[:limit]:
        with Image.open(path) as image:
            image.draft("RGB", (512, 512))
            yield image.convert("RGB")


def measure(detector: FaceDetector, pictures: list[tuple[Image.Image, int]]) -> Score:
    score = Score()
    for image, truth in pictures:
        started = time.perf_counter()
        found = detector.count_faces(image)
        score.add(found, truth, time.perf_counter() - started)
    return score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--detectors", default="blazeface,haar")
    parser.add_argument("--photos", type=int, default=60)
    args = parser.parse_args()
    sets = labelled_sets()
    photos = list(real_photos(args.photos)) if PHOTOS.is_dir() else []
    for name in args.detectors.split(","):
        try:
            detector = open_face_detector(name)
        except DetectorUnavailable as error:
            print(f"{name}: unavailable ({error})")
            continue
        detector.load()
        print(f"{detector.name}")
        total = Score()
        for set_name, pictures in sets.items():
            score = measure(detector, pictures)
            print(f"  {set_name:8} {score.row()}")
            total.absorb(score)
        print(f"  {'all':8} {total.row()}")
        if photos:
            seconds, with_faces = [], 0
            for image in photos:
                started = time.perf_counter()
                with_faces += detector.count_faces(image) > 0
                seconds.append(time.perf_counter() - started)
            print(
                f"  photos   {len(photos)} clothing photos ({photos[0].width}x{photos[0].height} "
                f"after draft): median {1000 * statistics.median(seconds):.1f} ms, "
                f"{with_faces} with a face"
            )


if __name__ == "__main__":
    main()
