"""The colour filter on rendered images of known colours: precision and recall.

Each picture has three regions of random sRGB colours (60 %, 25 % and 15 % of the area),
some fine noise, and is saved as a JPEG at quality 75, then decoded as ingestion does. The
truth is the rendered colours; the filter's answer comes from `dominant_colors` with the
distances and the minimum share that `color~` / `color=` use in SQL (search/nodes.py).
For every query colour (each CSS colour name) an image is relevant to `color~` at an
operator when one of its rendered regions is within that operator's distance, and to
`color=` when a region is of the colour's family.

    python -m bench.colors [--images 300]
"""

from __future__ import annotations

import argparse
import io

import numpy as np
from PIL import Image

from pixsearch.ingest.colors import dominant_colors
from pixsearch.ingest.decode import decode_image
from pixsearch.ingest.pipeline import DEFAULT_DRAFT
from pixsearch.search.nodes import COLOR_MAX_DISTANCE, COLOR_MIN_SHARE
from pixsearch.vocabulary.colors import CSS_COLORS, family_of, hex_to_lab, srgb_to_oklab

SHARES = (0.60, 0.25, 0.15)


def render(rng: np.random.Generator) -> tuple[bytes, np.ndarray]:
    """A 400 x 300 JPEG of three colour regions, and the regions' colours in OKLab."""
    colors = rng.integers(0, 256, (3, 3))
    height, width = 300, 400
    pixels = np.empty((height, width, 3), dtype=np.float64)
    edges = np.cumsum((0, *SHARES)) * width
    for index, color in enumerate(colors):
        pixels[:, int(edges[index]) : int(edges[index + 1])] = color
    pixels += rng.normal(0, 4, pixels.shape)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=75)
    return buffer.getvalue(), srgb_to_oklab(colors / 255.0)


def precision_recall(found: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    hits = float((found & truth).sum())
    return hits / max(1.0, float(found.sum())), hits / max(1.0, float(truth.sum()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=300)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    truths, extracted, errors = [], [], []
    for _ in range(args.images):
        data, truth = render(rng)
        image = decode_image(data, max_pixels=10**8, draft_size=DEFAULT_DRAFT).image
        colors = [c for c in dominant_colors(image) if c.share >= COLOR_MIN_SHARE]
        labs = np.array([c.lab for c in colors])
        truths.append(truth)
        extracted.append(labs)
        errors += [float(np.min(np.linalg.norm(labs - t, axis=1))) for t in truth[:2]]
    queries = np.array([hex_to_lab(value) for value in CSS_COLORS.values()])
    print(f"{args.images} rendered JPEGs (regions of 60/25/15 %, noise, quality 75), "
          f"{len(queries)} CSS colours as queries")  # fmt: skip
    print(f"  OKLab distance from a rendered region (60 or 25 %) to the nearest dominant "
          f"colour: median {np.median(errors):.3f}, 95th percentile "
          f"{np.percentile(errors, 95):.3f}")  # fmt: skip

    def nearest(labs: np.ndarray) -> np.ndarray:
        if not len(labs):
            return np.full(len(queries), np.inf)
        return np.min(np.linalg.norm(queries[:, None] - labs[None], axis=2), axis=1)

    true_d = np.stack([nearest(t) for t in truths], axis=1)  # [query, image]
    found_d = np.stack([nearest(e) for e in extracted], axis=1)
    for op, distance in [*COLOR_MAX_DISTANCE.items(), ("(0.16)", 0.16), ("(0.06)", 0.06)]:
        p, r = precision_recall(found_d <= distance, true_d <= distance)
        relevant = (true_d <= distance).sum(axis=1).mean()
        print(f"  color{op:6} distance {distance:.2f}: precision {p:.3f}, recall {r:.3f} "
              f"({relevant:.1f} relevant images per query)")  # fmt: skip
    families = [family_of(tuple(q)) for q in queries]
    true_f = np.array([[f in {family_of(tuple(c)) for c in t} for t in truths] for f in families])
    found_f = np.array(
        [[f in {family_of(tuple(c)) for c in e} for e in extracted] for f in families]
    )
    p, r = precision_recall(found_f, true_f)
    print(f"  color=<family of each CSS colour>: precision {p:.3f}, recall {r:.3f}")


if __name__ == "__main__":
    main()
