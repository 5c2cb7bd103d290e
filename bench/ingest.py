"""Ingest throughput: real-size JPEGs fetched on loopback, decoded, analysed and applied.

The pictures are the real photos of ../shared/data/clothing scaled to 1-2 megapixels, served
by a separate `python -m http.server` process. The app runs in this process (its workers
included); one batch of N images is added with wait=true. Printed: images per second,
where the time goes (seconds summed over images per stage), and, in the same run, the raw
limits on this machine: bare decode (the same draft decode) and, with a CLIP model, the
bare ONNX image encoder at the same thread count.

    python -m bench.ingest [--images 1000] [--clip DIR] [--text DIR] [--faces auto|off]
                           [--workers N] [--threads N]
"""

from __future__ import annotations

import argparse
import io
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image

from bench.stats import rss_mib
from pixsearch.app import create_app
from pixsearch.config import Settings
from pixsearch.db.engine import create_db_engine, writer
from pixsearch.db.migrate import upgrade
from pixsearch.ingest.decode import decode_image
from pixsearch.ingest.pipeline import DEFAULT_DRAFT
from pixsearch.tenants.service import create_key
from tests.e2e.server import free_port

CLOTHING = Path(__file__).resolve().parents[2] / "shared" / "data" / "clothing" / "images"


def make_pictures(folder: Path, n: int, distinct: int = 100) -> list[str]:
    """`distinct` photos scaled to 1-2 MP, written as n files (copies share pixels)."""
    photos = sorted(CLOTHING.rglob("*.jpg"))[:distinct]
    if not photos:
        sys.exit(f"no photos in {CLOTHING}")
    blobs = []
    for i, path in enumerate(photos):
        with Image.open(path) as image:
            scale = (1.0 + (i % 10) / 10) * 1_000_000 / (image.width * image.height)
            size = (int(image.width * scale**0.5), int(image.height * scale**0.5))
            buffer = io.BytesIO()
            image.convert("RGB").resize(size, Image.Resampling.BICUBIC).save(
                buffer, "JPEG", quality=90
            )
            blobs.append(buffer.getvalue())
    names = []
    for i in range(n):
        name = f"p{i}.jpg"
        (folder / name).write_bytes(blobs[i % len(blobs)])
        names.append(name)
    return names


@contextmanager
def folder_server(folder: Path) -> Iterator[str]:
    """`python -m http.server` serving `folder` from its own process (serving must not
    share the measured process's CPU time or GIL); its base URL once it accepts."""
    port = free_port()
    host = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "http.server",
            str(port),
            "--bind",
            "127.0.0.1",
            "--directory",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        host.terminate()
        host.wait(10)


def bare_decode_rate(folder: Path, names: list[str], threads: int) -> float:
    blobs = [(folder / name).read_bytes() for name in names[:200]]

    def decode(data: bytes) -> None:
        decode_image(data, max_pixels=100_000_000, draft_size=DEFAULT_DRAFT)

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(decode, blobs))
    return len(blobs) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--clip", default="", help="CLIP model directory (empty: off)")
    parser.add_argument("--text", default="", help="sentence model directory (empty: off)")
    parser.add_argument("--faces", default="off", help="face detector: auto or off")
    parser.add_argument(
        "--workers",
        type=int,
        default=Settings.model_fields["workers"].default,
        help="PIXSEARCH_WORKERS (default: the setting's default)",
    )
    parser.add_argument(
        "--threads", type=int, default=0, help="PIXSEARCH_INFERENCE_THREADS (0: every core)"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pixsearch-ingest-"))
    (work / "pics").mkdir()
    names = make_pictures(work / "pics", args.images)
    total_mb = sum((work / "pics" / n).stat().st_size for n in names) / 1e6
    settings = Settings(
        data_dir=work / "data",
        fetch_allow_nets=["127.0.0.0/8"],
        clip_model=args.clip,
        text_model=args.text,
        face_detector=args.faces,
        workers=args.workers,
        inference_threads=args.threads,
        wait_timeout_s=3600,
    )
    engine = create_db_engine(settings.resolved_database_url)
    upgrade(engine)
    with writer(engine).begin() as conn:
        key = create_key(conn, "bench")
    engine.dispose()
    with folder_server(work / "pics") as base:
        batch = [
            {
                "id": f"img{i}",
                "src": f"{base}/{name}",
                "caption": f"photo number {i} of a piece of clothing",
            }
            for i, name in enumerate(names)
        ]
        with TestClient(create_app(settings)) as client:
            resources = client.app.state.resources  # type: ignore[attr-defined]
            resources.models.warm_up()
            started = time.perf_counter()
            op = client.post(
                "/imgs?wait=true", json=batch, headers={"API-Key": key}, timeout=3600
            ).json()
            wall = time.perf_counter() - started
            timings = dict(resources.pipeline.timings.seconds)
            rss = rss_mib(__import__("os").getpid())
            status = resources.models.status()
    assert op["all_good"], op["errors"][:3]
    n = args.images
    print(
        f"ingest of {n} JPEGs ({total_mb / n:.2f} MB each, 1-2 MP), "
        f"PIXSEARCH_WORKERS={args.workers}"
    )
    print(f"  representations: {status}")
    print(f"  wall: {wall:.2f} s -> {n / wall:.1f} images/s   (op exec_ms {op['exec_ms']})")
    print("  where the time goes (seconds summed over images; stages overlap):")
    for stage, seconds in sorted(timings.items(), key=lambda kv: -kv[1]):
        print(f"    {stage:10} {seconds:8.2f} s  {1000 * seconds / n:7.2f} ms/image")
    for threads in (1, 2):
        print(
            f"  bare decode, {threads} thread(s): "
            f"{bare_decode_rate(work / 'pics', names, threads):.1f} images/s"
        )
    if args.clip:
        from bench.encoder import measure_encoder

        rate = measure_encoder(
            Path(args.clip),
            threads=settings.inference_threads,
            batch=settings.inference_batch,
            seconds=15,
        )
        print(
            f"  bare CLIP image encoder: {rate:.1f} images/s  "
            f"-> pipeline / encoder = {(n / wall) / rate:.2f}"
        )
    print(f"  process RSS: {rss:.0f} MiB")


if __name__ == "__main__":
    main()
