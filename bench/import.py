"""`pixsearch import` against the server's own apply throughput, on the same batches.

A real `pixsearch serve` (SQLite, no models), images on loopback from a separate
`python -m http.server`. For each workload the same rows are applied twice: sent by hand
(pre-encoded JSON arrays, POST /imgs?wait=true, the same batch size and concurrency, no
validation, no idempotency key: the floor), and by `pixsearch import` run as a user runs it
(a subprocess: start-up, reading, validating every row, batching, state file, keys).
The importer's cost is (import time - hand time) / hand time.

1. metadata: ROWS rows whose `src` is the one already stored (the catalogue is seeded
   first), so nothing is downloaded: the server's apply path only.
2. images: IMAGE_ROWS rows with new images (64x48 JPEGs) downloaded from loopback.
3. resume: a metadata import killed (kill -9) once half its batches are done, then run
   again: the time of the second run, and the operations it added (must be the batches
   left, none more).

    python -m bench.import [--rows 100000] [--image-rows 5000] [--batch-size 1000]
                           [--concurrency 4] [--repeat 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.ingest import folder_server
from tests.e2e.server import ServerProcess, cli
from tests.imageserver import make_jpeg


def create_key(data_dir: Path, org: str) -> str:
    return cli(data_dir, "keys", "create", "--org", org).strip().splitlines()[-1].split()[-1]


def write_rows(path: Path, rows: list[dict[str, object]]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row) + "\n")


def metadata_rows(n: int, src: str, tag: str) -> list[dict[str, object]]:
    return [
        {"id": f"m{i}", "src": src, "title": f"{tag} title {i}", "keywords": [tag, f"k{i % 100}"],
         "city": f"city {i % 50}", "nsfw": i % 7 == 0}
        for i in range(n)
    ]  # fmt: skip


async def send_by_hand(
    url: str, key: str, rows: list[dict[str, object]], size: int, c: int
) -> float:
    """POST the rows in batches of `size`, `c` at once, wait=true; seconds until all done."""
    bodies = [json.dumps(rows[i : i + size]).encode() for i in range(0, len(rows), size)]
    headers = {"API-Key": key, "Content-Type": "application/json"}
    queue = list(reversed(bodies))
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=600) as http:

        async def lane() -> None:
            while queue:
                body = queue.pop()
                answer = await http.post("/imgs", params={"wait": "true"}, content=body)
                op = answer.json()
                while answer.status_code == 202 or not op.get("is_finished", True):
                    await asyncio.sleep(0.05)
                    op = (await http.get(f"/ops/{op.get('operation_id') or op['op_id']}")).json()
                    if op["is_finished"]:
                        break
                assert op.get("all_good", True), op

        started = time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(c)))
        return time.perf_counter() - started


def importer(url: str, key: str, source: Path, size: int, c: int) -> list[str]:
    return [
        sys.executable, "-m", "pixsearch", "import", str(source), "--url", url, "--key", key,
        "--batch-size", str(size), "--concurrency", str(c), "--no-progress",
    ]  # fmt: skip


def run_importer(command: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"import failed: {done.stderr}")
    return seconds


def list_operations(url: str, key: str) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    for page in range(1, 10**6):
        ops = httpx.get(
            f"{url}/ops", params={"limit": 1000, "page": page}, headers={"API-Key": key}
        ).json()
        found += ops
        if len(ops) < 1000:
            break
    return found


def count_operations(url: str, key: str) -> int:
    return len(list_operations(url, key))


def apply_seconds(url: str, key: str, after: int) -> float:
    """The server's own time applying the operations after op id `after` (sum of exec_ms)."""
    ops = [op for op in list_operations(url, key) if int(str(op["op_id"])) > after]
    return sum(int(str(op["exec_ms"])) for op in ops) / 1000


def last_op(url: str, key: str) -> int:
    ops = httpx.get(f"{url}/ops", params={"limit": 1}, headers={"API-Key": key}).json()
    return int(ops[0]["op_id"]) if ops else 0


def compare(name: str, n: int, hand: tuple[float, float], imported: tuple[float, float]) -> None:
    """One line: wall time and the server's apply time (exec_ms summed) of each side."""
    (hand_s, hand_apply), (import_s, import_apply) = hand, imported
    print(
        f"{name}: {n:,} rows  by hand {hand_s:6.1f} s ({n / hand_s:7,.0f} rows/s; server "
        f"applying {hand_apply:5.1f} s)  import {import_s:6.1f} s ({n / import_s:7,.0f} "
        f"rows/s; server applying {import_apply:5.1f} s)  importer cost "
        f"{100 * (import_s - hand_s) / hand_s:+5.1f} %",
        flush=True,
    )


def timed_by_hand(
    url: str, key: str, rows: list[dict[str, object]], size: int, c: int
) -> tuple[float, float]:
    before = last_op(url, key)
    seconds = asyncio.run(send_by_hand(url, key, rows, size, c))
    return seconds, apply_seconds(url, key, before)


def timed_import(url: str, key: str, source: Path, size: int, c: int) -> tuple[float, float]:
    before = last_op(url, key)
    seconds = run_importer(importer(url, key, source, size, c))
    return seconds, apply_seconds(url, key, before)


def resume_after_kill(url: str, key: str, source: Path, size: int, c: int, n: int) -> None:
    batches = -(-n // size)
    before = count_operations(url, key)
    state = source.with_name(source.name + ".import-state")
    process = subprocess.Popen(importer(url, key, source, size, c), stderr=subprocess.DEVNULL)
    started = time.perf_counter()
    while not state.exists() or state.read_text().count('"done"') < batches // 2:
        if process.poll() is not None:
            sys.exit("the importer finished before the kill")
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_s = time.perf_counter() - started
    done = state.read_text().count('"done"')
    resume_s = run_importer(importer(url, key, source, size, c))
    added = count_operations(url, key) - before
    print(
        f"resume: killed after {killed_s:.1f} s with {done}/{batches} batches done; "
        f"the re-run took {resume_s:.1f} s for the {batches - done} left "
        f"({(n - done * size) / resume_s:,.0f} rows/s); operations added in all: {added} "
        f"(batches: {batches})",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--image-rows", type=int, default=5_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=2, help="Metadata rounds (hand, import).")
    args = parser.parse_args()
    size, c = args.batch_size, args.concurrency
    with tempfile.TemporaryDirectory(prefix="pixsearch-bench-import-") as tmp:
        root = Path(tmp)
        pictures = root / "pictures"
        pictures.mkdir()
        (pictures / "seed.jpg").write_bytes(make_jpeg(64, 48, 0))
        for n in range(2 * args.image_rows):
            (pictures / f"{n}.jpg").write_bytes(make_jpeg(64, 48, n + 1))
        with folder_server(pictures) as images, ServerProcess(root / "data") as server:
            key = create_key(root / "data", "bench")
            url, seed = server.url, f"{images}/seed.jpg"
            rows = args.rows
            seeding = asyncio.run(
                send_by_hand(url, key, metadata_rows(rows, seed, "seed"), size, c)
            )
            print(
                f"seed: {rows:,} rows added with one download each in {seeding:.1f} s", flush=True
            )

            for round_ in range(args.repeat):  # alternate, so load drift hits both sides
                tag = f"r{round_}"
                hand = timed_by_hand(url, key, metadata_rows(rows, seed, f"hand {tag}"), size, c)
                source = root / f"meta-{tag}.jsonl"
                write_rows(source, metadata_rows(rows, seed, f"import {tag}"))
                compare("metadata", rows, hand, timed_import(url, key, source, size, c))

            n = args.image_rows
            by_hand = [{"id": f"h{i}", "src": f"{images}/{i}.jpg"} for i in range(n)]
            hand = timed_by_hand(url, key, by_hand, size, c)
            fresh = [{"id": f"i{i}", "src": f"{images}/{n + i}.jpg"} for i in range(n)]
            write_rows(root / "images.jsonl", fresh)
            compare("images", n, hand, timed_import(url, key, root / "images.jsonl", size, c))

            write_rows(root / "resume.jsonl", metadata_rows(rows, seed, "resume"))
            resume_after_kill(url, key, root / "resume.jsonl", size, c, rows)


if __name__ == "__main__":
    main()
