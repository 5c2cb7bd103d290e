"""Dominant colours: k-means over a small copy of the image in OKLab, a perceptual space.

OKLab (Björn Ottosson, 2020) is nearly uniform: a Euclidean distance of about 0.02 is a
just-noticeable difference, so one distance threshold means the same for every hue. The
image is shrunk to `WORK_SIDE` pixels (the colours of a photo survive that), its pixels are
clustered into `CLUSTERS` groups from a fixed start (the same image always gives the same
answer), clusters nearer than `MERGE_DISTANCE` are merged, and the largest `MAX_COLORS`
with at least `MIN_SHARE` of the pixels are kept, each as `#rrggbb` and its share.

The colour space, the CSS names and the families are in `vocabulary/colors.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from pixsearch.vocabulary.colors import oklab_to_srgb, srgb_to_oklab, to_hex

WORK_SIDE = 48
CLUSTERS = 8
ITERATIONS = 12
MERGE_DISTANCE = 0.06
MIN_SHARE = 0.05
MAX_COLORS = 5


@dataclass(frozen=True)
class Color:
    """One dominant colour: its sRGB hex, its share of the pixels and its OKLab coordinates."""

    hex: str
    share: float
    lab: tuple[float, float, float]

    def as_json(self) -> dict[str, object]:
        return {"hex": self.hex, "share": self.share}


def dominant_colors(image: Image.Image) -> list[Color]:
    """Up to MAX_COLORS dominant colours of `image`, largest share first."""
    small = image.convert("RGB")
    small.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.BOX)
    pixels = srgb_to_oklab(np.asarray(small, dtype=np.float64).reshape(-1, 3) / 255.0)
    centres, counts = kmeans(pixels, CLUSTERS, ITERATIONS)
    centres, counts = merge_close(centres, counts, MERGE_DISTANCE)
    order = np.argsort(-counts, kind="stable")
    total = float(counts.sum())
    colors = []
    for index in order[:MAX_COLORS]:
        share = float(counts[index]) / total
        if share < MIN_SHARE:
            break
        lab = centres[index]
        colors.append(Color(to_hex(oklab_to_srgb(lab)), round(share, 3), (lab[0], lab[1], lab[2])))
    return colors


def kmeans(
    points: NDArray[np.float64], k: int, iterations: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Lloyd's k-means from a deterministic farthest-point start; centres and sizes."""
    centres = [points[0]]
    distances = np.sum((points - points[0]) ** 2, axis=1)
    for _ in range(1, min(k, len(points))):
        if distances.max() <= 0:
            break
        centres.append(points[int(distances.argmax())])
        distances = np.minimum(distances, np.sum((points - centres[-1]) ** 2, axis=1))
    grid = np.array(centres)
    labels = np.zeros(len(points), dtype=np.intp)
    for _ in range(iterations):
        labels = np.argmin(((points[:, None, :] - grid[None]) ** 2).sum(axis=2), axis=1)
        for index in range(len(grid)):
            members = points[labels == index]
            if len(members):
                grid[index] = members.mean(axis=0)
    counts = np.bincount(labels, minlength=len(grid)).astype(np.float64)
    keep = counts > 0
    return grid[keep], counts[keep]


def merge_close(
    centres: NDArray[np.float64], counts: NDArray[np.float64], distance: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Merge clusters nearer than `distance`, largest first, weighted by their sizes."""
    order = np.argsort(-counts, kind="stable")
    merged: list[tuple[NDArray[np.float64], float]] = []
    for index in order:
        centre, count = centres[index], float(counts[index])
        for position, (kept, kept_count) in enumerate(merged):
            if np.linalg.norm(kept - centre) < distance:
                total = kept_count + count
                merged[position] = ((kept * kept_count + centre * count) / total, total)
                break
        else:
            merged.append((centre, count))
    return np.array([c for c, _ in merged]), np.array([n for _, n in merged])
