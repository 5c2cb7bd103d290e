"""Near-duplicate quality of `i=` and `i==` on real photos: precision and recall per distance.

Every photo of ../shared/data/clothing/images gets three copies: resized to 50 %,
recompressed at JPEG quality 60, and cropped by 5 % (2.5 % off each side, so 95 % of
each dimension is kept); `--hard` adds a 10 % crop and a combination of all three. Each
copy asks for its near duplicates among all the originals: a hit on its own original is
a true positive, a hit on any other photo a false positive. Hashes are computed exactly as
ingestion does (the same decoder, draft size and pHash).

    .venv/bin/python -m bench.duplicates [--hard] [--max-distance 24]
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from pixsearch.ingest.analyse import perceptual_hash
from pixsearch.ingest.decode import decode_image
from pixsearch.ingest.pipeline import DEFAULT_DRAFT
from pixsearch.search.nodes import DUPLICATE_MAX_DISTANCE

PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "clothing" / "images"
MAX_PIXELS = 100_000_000


def encode_jpeg(image: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def resized(image: Image.Image) -> bytes:
    half = (max(1, image.width // 2), max(1, image.height // 2))
    return encode_jpeg(image.resize(half, Image.Resampling.LANCZOS))


def recompressed(image: Image.Image) -> bytes:
    return encode_jpeg(image, quality=60)


def cropper(share: float) -> Callable[[Image.Image], bytes]:
    """Cut `share` of each dimension, half on each side."""

    def crop(image: Image.Image) -> bytes:
        dx, dy = round(image.width * share / 2), round(image.height * share / 2)
        return encode_jpeg(image.crop((dx, dy, image.width - dx, image.height - dy)))

    return crop


def combined(image: Image.Image) -> bytes:
    small = Image.open(io.BytesIO(resized(image))).convert("RGB")
    return recompressed(Image.open(io.BytesIO(cropper(0.05)(small))).convert("RGB"))


def hash_bytes(data: bytes) -> int:
    """The pHash ingestion stores for these bytes."""
    decoded = decode_image(data, max_pixels=MAX_PIXELS, draft_size=DEFAULT_DRAFT)
    return perceptual_hash(decoded.image) & ((1 << 64) - 1)


def distances(queries: list[int], originals: list[int]) -> NDArray[np.int64]:
    """Hamming distance of every query to every original, [queries, originals]."""
    q = np.asarray(queries, dtype=np.uint64)[:, None]
    o = np.asarray(originals, dtype=np.uint64)[None, :]
    return np.bitwise_count(q ^ o).astype(np.int64)


def precision_recall(d: NDArray[np.int64], max_distance: int) -> tuple[float, float, int]:
    """Precision, recall and false positives when copy i's only true match is original i."""
    hits = d <= max_distance
    true = int(np.trace(hits))
    false = int(hits.sum()) - true
    precision = true / (true + false) if true + false else 1.0
    return precision, true / len(d), false


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hard", action="store_true", help="Also a 10 %% crop and a combination.")
    parser.add_argument("--max-distance", type=int, default=20, help="Largest distance listed.")
    args = parser.parse_args()
    if not PHOTOS.is_dir():
        raise SystemExit(f"skipped: {PHOTOS} is absent")
    transforms: dict[str, Callable[[Image.Image], bytes]] = {
        "resize 50%": resized,
        "jpeg q60": recompressed,
        "crop 5%": cropper(0.05),
    }
    if args.hard:
        transforms.update({"crop 10%": cropper(0.10), "all three": combined})

    started = time.perf_counter()
    paths = sorted(PHOTOS.rglob("*.jpg"))
    originals: list[int] = []
    copies: dict[str, list[int]] = {name: [] for name in transforms}
    for path in paths:
        data = path.read_bytes()
        originals.append(hash_bytes(data))
        image = decode_image(data, max_pixels=MAX_PIXELS).image
        for name, transform in transforms.items():
            copies[name].append(hash_bytes(transform(image)))
    print(
        f"{len(paths)} photos, {len(transforms)} copies each, hashed in "
        f"{time.perf_counter() - started:.1f} s"
    )

    between = distances(originals, originals)
    others = between[~np.eye(len(paths), dtype=bool)]
    print(
        f"distinct originals: closest pair at distance {int(others.min())}; pairs within "
        + ", ".join(f"{t}: {int((others <= t).sum()) // 2}" for t in (4, 6, 8, 10, 12))
    )

    matrices = {name: distances(hashes, originals) for name, hashes in copies.items()}
    n_copies = sum(len(d) for d in matrices.values())
    header = "  d | " + " | ".join(f"{name:>17}" for name in transforms) + " |  all: P     R   FP"
    print("precision / recall of each copy against all originals, by largest distance d")
    print(header)
    for threshold in range(args.max_distance + 1):
        cells = []
        for d in matrices.values():
            precision, recall, _ = precision_recall(d, threshold)
            cells.append(f"P {precision:5.3f} R {recall:5.3f}")
        hits = np.concatenate([d <= threshold for d in matrices.values()])
        true = sum(int(np.trace(d <= threshold)) for d in matrices.values())
        false = int(hits.sum()) - true
        precision = true / (true + false) if true + false else 1.0
        ops = [f"i{op}" for op, value in DUPLICATE_MAX_DISTANCE.items() if value == threshold]
        print(
            f"{threshold:3d} | "
            + " | ".join(cells)
            + f" | {precision:5.3f} {true / n_copies:5.3f} {false:4d}"
            + (f"  <- {' '.join(ops)}" if ops else "")
        )
    suggest(matrices, args.max_distance)


def suggest(matrices: dict[str, NDArray[np.int64]], max_distance: int) -> None:
    """The distances the measurement argues for, on the three required copies."""
    required = [matrices[name] for name in ("resize 50%", "jpeg q60", "crop 5%")]
    pixel_level = required[:2]

    def f1(threshold: int) -> float:
        true = sum(int(np.trace(d <= threshold)) for d in required)
        found = sum(int((d <= threshold).sum()) for d in required)
        total = sum(len(d) for d in required)
        precision, recall = true / max(found, 1), true / total
        return 2 * precision * recall / max(precision + recall, 1e-9)

    near = max(range(max_distance + 1), key=f1)
    very_near = next(
        (t for t in range(max_distance + 1) if all(np.all(np.diag(d) <= t) for d in pixel_level)),
        max_distance,
    )
    print(
        f"suggested: i= <= {near} (best F1 over resize, recompress and crop: {f1(near):.3f}); "
        f"i== <= {very_near} (smallest distance that finds every resized and recompressed copy)"
    )


if __name__ == "__main__":
    main()
