"""People: quality of `p~` and `p=`, the detector for identities, the smallest face given an
identity, ingest cost and memory with identities, and `p~` speed at 100k images.

The photographs (tests/people/photos.py, needs scikit-image, in the `bench` and `dev`
extras): the one known person is scikit-image's astronaut (Eileen Collins, NASA, public
domain) in 18 copies (flipped, scaled 40-150 %, JPEG quality 30 and 10, darkened to 50 %
and 30 %, brightened, low contrast, grey, cropped to the face with 50 % and 10 % margin,
cropped to the upper body, rotated 8 degrees, blurred, and flipped + darkened + halved)
and 8 group composites (2 x 2 grids) that include her among LFW strangers. The strangers
are scikit-image's `camera()` and its 100 LFW faces (grey 25 x 25 crops upscaled 6 times;
those BlazeFace finds), 8 group composites of strangers only, and the 37 clothing photos
of /work/shared where BlazeFace reports a face that is not one (garments, prints).

    python -m bench.people [--images 100000] [--ingest 60]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import multiprocessing
import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray
from PIL import Image

from bench.ingest import folder_server
from bench.stats import percentiles, rss_mib
from pixsearch.backend import open_backend
from pixsearch.config import Settings
from pixsearch.db.engine import create_db_engine, writer
from pixsearch.db.migrate import upgrade
from pixsearch.db.tables import image_faces, images, organisations
from pixsearch.ingest.fetch import Fetcher
from pixsearch.ingest.pipeline import DEFAULT_DRAFT, IDENTITY_DRAFT, Pipeline
from pixsearch.ingest.steps import FacesStep
from pixsearch.runtimes.faces import BlazeFaceDetector, Detection
from pixsearch.runtimes.identities import (
    IDENTITY_THRESHOLDS,
    FaceIdentifier,
    IdentityPool,
    distances,
)
from pixsearch.search.service import Searcher, SearchParams, search_images
from tests.people import photos

CLOTHING = Path(__file__).resolve().parents[2] / "shared" / "data" / "clothing"
THRESHOLDS = (0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7)
EXAMPLES_3 = ("original", "flipped-dark-small", "grey")


@dataclass
class Picture:
    name: str
    image: Image.Image
    has_person: bool
    descriptors: list[NDArray[np.float32]]


def describe_all(
    pictures: dict[str, tuple[Image.Image, bool]],
    find: Callable[[Image.Image], list[Detection]],
    identifier: FaceIdentifier,
) -> list[Picture]:
    out = []
    for name, (image, has_person) in pictures.items():
        found = find(image)
        vectors = [v for v in identifier.describe(image, found) if v is not None]
        out.append(Picture(name, image, has_person, vectors))
    return out


def gallery() -> dict[str, tuple[Image.Image, bool]]:
    """Every picture of the set, and whether it shows the astronaut."""
    copies = photos.astronaut_copies()
    strangers = photos.lfw_faces()
    pictures: dict[str, tuple[Image.Image, bool]] = {
        f"astro/{name}": (image, True) for name, image in copies.items()
    }
    pictures["camera"] = (photos.camera(), False)
    pictures.update({f"lfw/{i}": (face, False) for i, face in enumerate(strangers)})
    group_copies = ["original", "flipped", "jpeg-q30", "darkened-50", "scaled-60", "grey"]
    for i in range(8):
        others = [strangers[(3 * i + k) % 100] for k in range(3)]
        copy = copies[group_copies[i % len(group_copies)]]
        pictures[f"group-with/{i}"] = (
            photos.group([*others[: i % 3], copy, *others[i % 3 :]]),
            True,
        )
        pictures[f"group-without/{i}"] = (photos.group([*others, strangers[(50 + i) % 100]]), False)
    for row in csv.DictReader((CLOTHING / "labels.csv").open()):
        pictures[f"clothing/{row['path']}"] = (
            Image.open(CLOTHING / row["path"]).convert("RGB"),
            False,
        )
    return pictures


def min_distance(picture: Picture, queries: list[NDArray[np.float32]]) -> float:
    if not picture.descriptors:
        return float("inf")
    matrix = np.stack(picture.descriptors)
    return float(min(distances(matrix, query).min() for query in queries))


def precision_recall(
    pictures: list[Picture], queries: list[NDArray[np.float32]], threshold: float, skip: set[str]
) -> tuple[float, float, int]:
    found = [p for p in pictures if p.name not in skip and min_distance(p, queries) <= threshold]
    relevant = [p for p in pictures if p.name not in skip and p.has_person]
    hits = sum(p.has_person for p in found)
    precision = hits / len(found) if found else 1.0
    return precision, hits / len(relevant), len(found) - hits


def quality(pictures: list[Picture]) -> None:
    by_name = {p.name: p for p in pictures}
    positives = [p for p in pictures if p.has_person]
    print(
        f"\nset: {len(positives)} pictures with the astronaut, "
        f"{len(pictures) - len(positives)} without; faces with a descriptor: "
        f"{sum(len(p.descriptors) for p in pictures)}"
    )
    strangers = [d for p in pictures if not p.has_person for d in p.descriptors]
    reference = by_name["astro/original"].descriptors[0]
    near = sorted(min_distance(p, [reference]) for p in positives if p.name != "astro/original")
    far = distances(np.stack(strangers), reference)
    print(
        f"distance to the original face: copies {near[0]:.2f}-{near[-1]:.2f} "
        f"(median {np.median(near):.2f}); strangers' faces min {far.min():.2f}, "
        f"median {np.median(far):.2f}"
    )
    print("\np~ from each of the astronaut's solo copies (mean over queries), per threshold:")
    print(f"{'distance':>9} {'precision':>10} {'recall':>7} {'wrong/query':>12}")
    solo = [p for p in positives if p.name.startswith("astro/") and p.descriptors]
    for threshold in THRESHOLDS:
        rows = [precision_recall(pictures, [q.descriptors[0]], threshold, {q.name}) for q in solo]
        mean = np.mean(rows, axis=0)
        marks = [op for op, value in IDENTITY_THRESHOLDS.items() if value == threshold]
        print(
            f"{threshold:>9.2f} {mean[0]:>10.3f} {mean[1]:>7.3f} {mean[2]:>12.2f}"
            f"  {' '.join('p' + m for m in marks)}"
        )
    print(
        "\np= registered from 1 face (the original) and from 3 (original, flipped+dark+small,"
        " grey):"
    )
    for label, names in (("1 face", ("original",)), ("3 faces", EXAMPLES_3)):
        queries = [by_name[f"astro/{n}"].descriptors[0] for n in names]
        skip = {f"astro/{n}" for n in names}
        for op, threshold in IDENTITY_THRESHOLDS.items():
            precision, recall, wrong = precision_recall(pictures, queries, threshold, skip)
            print(
                f"  {label:8} p={op:<4} ({threshold:.2f}): precision {precision:.3f} "
                f"recall {recall:.3f} wrong {wrong}"
            )


def detectors(identifier: FaceIdentifier, blaze: BlazeFaceDetector) -> None:
    """BlazeFace against dlib's HOG: found, wrong, time; on copies, LFW and clothing."""
    import dlib

    hog = dlib.get_frontal_face_detector()
    sets = {
        "astronaut copies": list(photos.astronaut_copies().values()),
        "LFW faces (upscaled)": photos.lfw_faces(),
        "clothing photos (no face)": [
            Image.open(CLOTHING / row["path"]).convert("RGB")
            for row in csv.DictReader((CLOTHING / "labels.csv").open())
        ],
    }
    print("\ndetector for the boxes: pictures where it finds a face, median ms per picture")
    for label, pictures in sets.items():
        for name, find in (
            ("blazeface", blaze.detect_faces),
            ("dlib HOG", lambda im: list(hog(np.asarray(im), 0))),
        ):
            times, found = [], 0
            for picture in pictures:
                started = time.perf_counter()
                found += bool(find(picture))
                times.append(time.perf_counter() - started)
            print(
                f"  {label:27} {name:10} {found:4}/{len(pictures):<4} "
                f"{np.median(times) * 1000:6.1f} ms"
            )


def face_sizes(identifier: FaceIdentifier, blaze: BlazeFaceDetector) -> None:
    """Distance to the full-size face as the face gets smaller."""
    original = photos.astronaut()
    reference = identifier.describe(original, blaze.detect_faces(original))[0]
    assert reference is not None
    identifier.min_side = 1
    print("\nface side (px) -> distance to the 106 px original (astronaut scaled down):")
    cells = []
    for side in (16, 20, 24, 28, 32, 36, 40, 48, 56, 64, 80):
        small = photos.scaled(original, side / 106)
        found = blaze.detect_faces(small)
        if not found:
            cells.append(f"{side}: not found")
            continue
        vector = identifier.describe(small, found[:1])[0]
        assert vector is not None
        cells.append(f"{side}: {float(np.linalg.norm(vector - reference)):.2f}")
    print("  " + ", ".join(cells))


async def ingest_rate(
    folder: Path, names: list[str], identities: bool
) -> tuple[float, dict[str, float], float]:
    """Images/s, ms per image and stage, and the event loop's worst stalls (p99, ms)."""
    blaze = BlazeFaceDetector()
    identifier = FaceIdentifier() if identities else None
    pool = IdentityPool(identifier, 0) if identifier is not None else None
    settings = Settings(fetch_allow_nets=["127.0.0.0/8"], workers=8)
    stalls: list[float] = []

    async def watch() -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(0.01)
            stalls.append((time.perf_counter() - started - 0.01) * 1000)

    with folder_server(folder) as base:
        async with Fetcher(settings) as fetcher:
            step = FacesStep(blaze, identifier, pool)
            draft = IDENTITY_DRAFT if identities else DEFAULT_DRAFT
            pipeline = Pipeline(settings, fetcher, [step], draft_size=draft)
            # Warm the interpreters and the pool's processes.
            await asyncio.gather(*(pipeline.analyse_url(f"{base}/{n}") for n in names[-8:]))
            pipeline.timings.seconds.clear()
            watcher = asyncio.create_task(watch())
            started = time.perf_counter()
            await asyncio.gather(*(pipeline.analyse_url(f"{base}/{n}") for n in names))
            elapsed = time.perf_counter() - started
            watcher.cancel()
    if pool is not None:
        pool.close()
    per_image = {k: 1000 * v / len(names) for k, v in pipeline.timings.seconds.items()}
    return len(names) / elapsed, per_image, float(np.percentile(stalls, 99))


def child_rss() -> float:
    """Resident memory of a process that has loaded dlib's models and described a face."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        return float(pool.submit(loaded_rss).result())


def loaded_rss() -> float:
    image = photos.astronaut()
    FaceIdentifier().describe(image, BlazeFaceDetector().detect_faces(image))
    return rss_mib(os.getpid())


def ingest(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = list(csv.DictReader((CLOTHING / "labels.csv").open()))
        pictures = [Image.open(CLOTHING / r["path"]).convert("RGB") for r in rows[: count // 2]]
        copies = list(photos.astronaut_copies().values())
        strangers = photos.lfw_faces()
        for i in range(count - len(pictures)):
            members = [copies[i % len(copies)], strangers[i % 100], strangers[(i + 7) % 100]]
            pictures.append(photos.group(members, cell=600))  # 1200 x 1200 group photos
        names = []
        for i, picture in enumerate(pictures):
            (folder / f"p{i}.jpg").write_bytes(photos.jpeg(picture))
            names.append(f"p{i}.jpg")
        before = rss_mib(os.getpid())
        results = {}
        for identities in (False, True, False, True):
            results[identities] = asyncio.run(ingest_rate(folder, names, identities))
        after = rss_mib(os.getpid())
    print(
        f"\ningest of {count} pictures (half clothing photos, half 1200 x 1200 group photos "
        "of 3 faces) over loopback, faces step only, 8 at a time (last of two runs each):"
    )
    for identities, (rate, stages, stall) in results.items():
        label = "with identities" if identities else "detector only  "
        shown = ", ".join(f"{k} {v:.1f}" for k, v in stages.items())
        print(
            f"  {label}: {rate:5.2f} images/s; event loop stall p99 {stall:.0f} ms; "
            f"ms per image (wall, 8 in flight): {shown}"
        )
    print(
        f"  ratio {results[True][0] / results[False][0]:.2f}; this process's RSS "
        f"{before:.0f} -> {after:.0f} MiB; each identity child process "
        f"{child_rss():.0f} MiB with dlib's models loaded"
    )


def search_speed(n_images: int) -> None:
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_db_engine(f"sqlite:///{tmp}/people.db")
        upgrade(engine)
        model = FaceIdentifier().name
        counts = rng.choice([0, 1, 1, 1, 2, 2, 3], size=n_images)  # mean 1.43 faces
        people = rng.normal(0, 0.09, size=(n_images // 3, 128)).astype(np.float32)
        with writer(engine).begin() as conn:
            conn.execute(sa.insert(organisations), [{"id": 1, "name": "acme", "created_at": 0}])
            conn.execute(
                sa.insert(images),
                [
                    {
                        "id": i + 1,
                        "org_id": 1,
                        "image_id": f"img{i}",
                        "n_faces": int(c),
                        "width": 400 + i % 1000,
                        "created_at": i,
                        "updated_at": i,
                    }
                    for i, c in enumerate(counts)
                ],
            )
            rows = []
            for i, c in enumerate(counts):
                for n in range(1, int(c) + 1):
                    person = people[rng.integers(len(people))]
                    vector = person + rng.normal(0, 0.02, 128).astype(np.float32)
                    rows.append(
                        {
                            "image_pk": i + 1,
                            "org_id": 1,
                            "n": n,
                            "model": model,
                            "descriptor": vector.astype(np.float32).tobytes(),
                        }
                    )
            conn.execute(sa.insert(image_faces), rows)
        backend = open_backend(engine)
        searcher = Searcher(backend, identities=FaceIdentifier())
        query = next(f"img{i}_1" for i, c in enumerate(counts) if c)
        matrix = np.stack([np.frombuffer(r["descriptor"], np.float32) for r in rows])
        print(
            f"\np~ on SQLite: {n_images} images, {len(rows)} faces "
            f"({len(rows) / n_images:.2f} per image), synthetic descriptors, exact"
        )
        for label, q in (
            ("p~ alone", f"p~{query}"),
            ("p~ && w<900 (half)", f"p~{query} && w<900"),
            ("p~ && w<410 (1 %)", f"p~{query} && w<410"),
        ):
            times, count = [], 0
            with engine.connect() as conn:
                search_images(conn, searcher, 1, SearchParams(q=q))  # loads the slot
                for _ in range(40):
                    started = time.perf_counter()
                    page = search_images(conn, searcher, 1, SearchParams(q=q))
                    times.append((time.perf_counter() - started) * 1000)
                    count = page.count or 0
            print(f"  {label:20} {count:4} hits  ms {percentiles(times, (50, 95))}")
        floor = []
        for _ in range(40):
            started = time.perf_counter()
            matrix @ matrix[0]
            floor.append((time.perf_counter() - started) * 1000)
        print(
            f"  raw floor (one NumPy product over every face, same run) ms "
            f"{percentiles(floor, (50, 95))}"
        )
        backend.close()
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=100_000, help="images for the speed test")
    parser.add_argument("--ingest", type=int, default=60, help="pictures for the ingest test")
    parser.add_argument(
        "--skip", default="", help="comma list: quality,detectors,sizes,ingest,speed"
    )
    args = parser.parse_args()
    skip = set(args.skip.split(","))
    blaze, identifier = BlazeFaceDetector(), FaceIdentifier()
    if "quality" not in skip:
        quality(describe_all(gallery(), blaze.detect_faces, identifier))
    if "detectors" not in skip:
        detectors(identifier, blaze)
    if "sizes" not in skip:
        face_sizes(FaceIdentifier(), blaze)
    if "ingest" not in skip:
        ingest(args.ingest)
    if "speed" not in skip:
        search_speed(args.images)


if __name__ == "__main__":
    main()
