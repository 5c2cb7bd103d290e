"""Out-of-the-box quality and speed on the clothing photos (../shared/data/clothing).

1. `i~` with EfficientNet-Lite3: precision@10 by class (each of the 713 photos as the
   query, its 10 nearest other photos by cosine: exact search, what `i~` on SQLite does),
   1-NN accuracy on the test split (centre crop, squashed, padded), and the cosine
   distributions the `~` thresholds were chosen from.
2. `t~` with class names as queries in English and Spanish, nDCG@10, through the service
   (the photos ingested with `lang=en` and `lang=es`), with tags and without (classifier
   off: full text over images that have no text).
3. Ingest images/s with each generated step on, against the bare models in the same run.

    python -m bench.visual [--speed-images 200] [--ocr-images 40]
"""

from __future__ import annotations

import argparse
import csv
import math
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from PIL import Image

from bench.ingest import folder_server
from pixsearch.app import create_app
from pixsearch.config import Settings
from pixsearch.db.engine import create_db_engine, writer
from pixsearch.db.migrate import upgrade
from pixsearch.ingest.colors import dominant_colors
from pixsearch.ingest.decode import decode_image
from pixsearch.ingest.pipeline import DEFAULT_DRAFT
from pixsearch.runtimes.efficientnet import INPUT_SIDE, EfficientNetLite
from pixsearch.runtimes.ocr import open_text_reader
from pixsearch.runtimes.tagger import DEFAULT_WORDNET_DIR, Tagger
from pixsearch.tenants.service import create_key

CLOTHING = Path(__file__).resolve().parents[2] / "shared" / "data" / "clothing"
QUERIES = {
    "dress": ("a dress", "un vestido"),
    "hat": ("hat", "sombrero"),
    "longsleeve": ("long sleeve top", "camiseta de manga larga"),
    "outwear": ("jacket", "chaqueta"),
    "pants": ("pants", "pantalones"),
    "shirt": ("shirt", "camisa"),
    "shoes": ("shoes", "zapatos"),
    "shorts": ("shorts", "pantalones cortos"),
    "skirt": ("skirt", "falda"),
    "t-shirt": ("t-shirt", "camiseta"),
}


def read_labels() -> list[dict[str, str]]:
    with (CLOTHING / "labels.csv").open() as file:
        return list(csv.DictReader(file))


def load_photo(path: Path) -> Image.Image:
    """The photo as ingestion decodes it (JPEG draft mode)."""
    return decode_image(path.read_bytes(), max_pixels=10**8, draft_size=DEFAULT_DRAFT).image


def squash(image: Image.Image) -> Image.Image:
    return image.resize((INPUT_SIDE, INPUT_SIDE), Image.Resampling.BILINEAR)


def pad(image: Image.Image) -> Image.Image:
    side = max(image.size)
    canvas = Image.new("RGB", (side, side))
    canvas.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
    return canvas


def nearest_neighbour_accuracy(vectors: np.ndarray, labels: np.ndarray) -> float:
    scores = vectors @ vectors.T
    np.fill_diagonal(scores, -np.inf)
    return float((labels[scores.argmax(axis=1)] == labels).mean())


def image_similarity(model: EfficientNetLite, rows: list[dict[str, str]]) -> None:
    photos = [load_photo(CLOTHING / row["path"]) for row in rows]
    labels = np.array([row["label"] for row in rows])
    started = time.perf_counter()
    vectors = np.stack([model.see(photo).vector for photo in photos])
    bare = len(photos) / (time.perf_counter() - started)
    scores = vectors @ vectors.T
    np.fill_diagonal(scores, -np.inf)
    top = np.argsort(-scores, axis=1)[:, :10]
    precision = (labels[top] == labels[:, None]).mean(axis=1)
    print(f"i~ with EfficientNet-Lite3 on {len(rows)} clothing photos (exact cosine search)")
    print("  precision@10 by class:")
    for label in sorted(set(labels)):
        chosen = labels == label
        print(f"    {label:11} {precision[chosen].mean():.3f}  ({chosen.sum()} photos)")
    print(f"  mean over photos {precision.mean():.3f}; random would give about 0.13")
    test = np.array([row["split"] == "test" for row in rows])
    variants: dict[str, Callable[[Image.Image], Image.Image]] = {
        "centre crop": lambda image: image,
        "squashed": squash,
        "padded": pad,
    }
    for name, transform in variants.items():
        kept = [photo for photo, in_test in zip(photos, test, strict=True) if in_test]
        chosen = [model.see(transform(photo)).vector for photo in kept]
        accuracy = nearest_neighbour_accuracy(np.stack(chosen), labels[test])
        print(f"  1-NN leave-one-out accuracy, test split, {name}: {accuracy:.3f}")
    same = labels[:, None] == labels[None, :]
    upper = np.triu_indices(len(labels), 1)
    pair_scores, pair_same = scores[upper], same[upper]
    print(
        f"  cosine medians: same class {np.median(pair_scores[pair_same]):.3f}, "
        f"other class {np.median(pair_scores[~pair_same]):.3f}"
    )
    for op, threshold in model.image_thresholds.items():
        kept = pair_scores >= threshold
        print(
            f"  i{op} (cosine >= {threshold}): {kept.mean():.3f} of pairs pass, "
            f"{pair_same[kept].mean() if kept.any() else 0:.3f} of them same class, "
            f"{kept[pair_same].mean():.3f} of same-class pairs pass"
        )
    halves = [photo.resize((photo.width // 2, photo.height // 2)) for photo in photos[:50]]
    copies = [model.see(half) for half in halves]
    copy_scores = [float(c.vector @ v) for c, v in zip(copies, vectors[:50], strict=True)]
    print(f"  half-size copies: lowest cosine to the original {min(copy_scores):.3f}")
    print(f"  bare model (decoded photos in memory, 1 thread): {bare:.1f} images/s")


def new_service(work: Path, name: str, **overrides: Any) -> tuple[Settings, str]:
    settings = Settings(
        data_dir=work / name,
        fetch_allow_nets=["127.0.0.0/8"],
        clip_model="",
        text_model="",
        face_detector="off",
        wait_timeout_s=3600,
        **overrides,
    )
    engine = create_db_engine(settings.resolved_database_url)
    upgrade(engine)
    with writer(engine).begin() as conn:
        key = create_key(conn, "bench")
    engine.dispose()
    return settings, key


def ingest(client: TestClient, key: str, batch: list[dict[str, str]], lang: str) -> float:
    started = time.perf_counter()
    op = client.post(
        f"/imgs?wait=true&lang={lang}", json=batch, headers={"API-Key": key}, timeout=3600
    ).json()
    assert op["all_good"], op["errors"][:3]
    return time.perf_counter() - started


def ndcg_at_10(ranked: list[str], relevant: set[str]) -> float:
    hits = [i for i, image_id in enumerate(ranked[:10]) if image_id in relevant]
    gains = sum(1 / math.log2(i + 2) for i in hits)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(10, len(relevant))))
    return gains / ideal if ideal else 0.0


def text_search(work: Path, base: str, rows: list[dict[str, str]]) -> None:
    batch = [{"id": f"p{i}", "src": f"{base}/{row['path']}"} for i, row in enumerate(rows)]
    relevant: dict[str, set[str]] = defaultdict(set)
    for i, row in enumerate(rows):
        relevant[row["label"]].add(f"p{i}")
    print("t~ with class names as queries, nDCG@10 (no CLIP, no sentence model)")
    for tagged in (True, False):
        classifier = "efficientnet-lite3" if tagged else "off"
        for lang, column in (("en", 0), ("es", 1)):
            settings, key = new_service(work, f"text-{classifier}-{lang}", classifier=classifier)
            with TestClient(create_app(settings)) as client:
                ingest(client, key, batch, lang)
                figures = []
                for label, queries in QUERIES.items():
                    answer = client.get(
                        "/imgs",
                        params={"q": f"t~{queries[column]}", "limit": 10, "lang": lang},
                        headers={"API-Key": key},
                    ).json()
                    ranked = [r["image_id"] for r in answer["results"]]
                    figures.append((label, queries[column], ndcg_at_10(ranked, relevant[label])))
            mean = sum(f for _, _, f in figures) / len(figures)
            shown = ", ".join(f"{query!r} {f:.2f}" for _, query, f in figures)
            print(f"  {'with' if tagged else 'without'} tags, {lang}: mean {mean:.3f}  ({shown})")


def speed(work: Path, base: str, rows: list[dict[str, str]], n: int, n_ocr: int) -> None:
    chosen = rows[:: max(1, len(rows) // n)][:n]
    photos = [load_photo(CLOTHING / row["path"]) for row in chosen]
    model = EfficientNetLite()
    tagger = Tagger(DEFAULT_WORDNET_DIR, model.labels)
    reader = open_text_reader("on")
    model.see(photos[0]), tagger.load(), reader.read(photos[0])  # warm up
    bare: dict[str, float] = {}
    started = time.perf_counter()
    for photo in photos:
        tagger.tag(model.see(photo).probabilities)
    bare["classifier + tags"] = len(photos) / (time.perf_counter() - started)
    started = time.perf_counter()
    for photo in photos:
        dominant_colors(photo)
    bare["colours"] = len(photos) / (time.perf_counter() - started)
    started = time.perf_counter()
    for photo in photos[:n_ocr]:
        reader.read(photo)
    bare["ocr"] = n_ocr / (time.perf_counter() - started)
    print(f"speed: {n} photos ({n_ocr} with OCR), bare models on decoded photos, 1 thread:")
    for name, rate in bare.items():
        print(f"  bare {name}: {rate:.1f} images/s ({1000 / rate:.1f} ms/image)")
    configs = [
        ("nothing generated", {"classifier": "off", "colors": "off"}, n),
        ("classifier + tags", {"colors": "off"}, n),
        ("classifier + tags + colours", {}, n),
        ("classifier + tags + colours + OCR", {"ocr": "on"}, n_ocr),
    ]
    floor = 1 / sum(1 / bare[k] for k in ("classifier + tags", "colours"))
    for index, (name, overrides, count) in enumerate(configs):
        settings, key = new_service(work, f"speed-{index}", **overrides)
        batch = [{"id": f"s{i}", "src": f"{base}/{row['path']}"} for i, row in enumerate(chosen)]
        with TestClient(create_app(settings)) as client:
            client.app.state.resources.models.warm_up()  # type: ignore[attr-defined]
            wall = ingest(client, key, batch[:count], "en")
        rate = count / wall
        print(f"  ingest, {name}: {rate:.1f} images/s", end="")
        if "OCR" in name:
            print(f"  (bare OCR {bare['ocr']:.1f}: ratio {rate / bare['ocr']:.2f})")
        elif "colours" in name:
            print(f"  (bare classifier + colours in series {floor:.1f}: ratio {rate / floor:.2f})")
        elif "classifier" in name:
            print(f"  (bare classifier {bare['classifier + tags']:.1f}: "
                  f"ratio {rate / bare['classifier + tags']:.2f})")  # fmt: skip
        else:
            print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--speed-images", type=int, default=200)
    parser.add_argument("--ocr-images", type=int, default=40)
    parser.add_argument("--skip", nargs="*", default=[], choices=["image", "text", "speed"])
    args = parser.parse_args()
    rows = read_labels()
    work = Path(tempfile.mkdtemp(prefix="pixsearch-visual-"))
    if "image" not in args.skip:
        image_similarity(EfficientNetLite(), rows)
    with folder_server(CLOTHING) as base:
        if "text" not in args.skip:
            text_search(work, base, rows)
        if "speed" not in args.skip:
            speed(work, base, rows, args.speed_images, args.ocr_images)


if __name__ == "__main__":
    main()
