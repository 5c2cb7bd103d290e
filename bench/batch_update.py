"""Metadata-only batch update of 10,000 images, against a raw SQLite executemany.

A real `pixsearch serve` holds 10,000 images; one `PATCH /imgs?wait=true` changes the
title and keywords of all of them (no image is downloaded again). In the same run, the
same rows are written with a bare `sqlite3` executemany on a copy of the database file.
Goal (issue 2): pixsearch >= 0.2 x raw.

    python -m bench.batch_update [--images 10000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import time
from pathlib import Path

import httpx

from bench.server import start_server
from tests.imageserver import ImageServer, make_png


def seed(base: str, key: str, server: ImageServer, n: int) -> None:
    server.add("/tiny.png", make_png(8, 8, 1), "image/png")
    headers = {"API-Key": key}
    for start in range(0, n, 5000):
        batch = [
            {"id": f"img{i}", "src": server.url("/tiny.png"), "title": "old"}
            for i in range(start, min(n, start + 5000))
        ]
        op = httpx.post(
            f"{base}/imgs", params={"wait": "true"}, json=batch, headers=headers, timeout=600
        ).json()
        assert op["all_good"], op


def rows(n: int) -> list[dict[str, object]]:
    return [
        {"id": f"img{i}", "title": f"new title {i}", "keywords": ["updated", f"k{i % 50}"]}
        for i in range(n)
    ]


def raw_executemany(db_path: str, n: int, derived: bool = False) -> float:
    """Seconds for bare sqlite3 to write the same rows: the images' columns only, or with
    `derived` also what pixsearch keeps beside them (set terms and full-text rows)."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    new = rows(n)
    params = [(r["title"], json.dumps(r["keywords"]), r["id"]) for r in new]
    pks = dict(conn.execute("SELECT image_id, id FROM images WHERE org_id = 1"))
    started = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany(
        "UPDATE images SET title = ?, keywords = ? WHERE org_id = 1 AND image_id = ?", params
    )
    if derived:
        ids = [(pks[r["id"]],) for r in new]
        conn.executemany("DELETE FROM image_terms WHERE image_pk = ?", ids)
        conn.executemany(
            "INSERT INTO image_terms (image_pk, org_id, field, value, value_norm) "
            "VALUES (?, 1, 'keywords', ?, ?)",
            [(pks[r["id"]], k, k.lower()) for r in new for k in r["keywords"]],
        )
        conn.executemany("DELETE FROM images_fts WHERE rowid = ?", ids)
        conn.executemany(
            "INSERT INTO images_fts (rowid, title, headline, caption, alt_text, keywords, labels) "
            "VALUES (?, ?, '', '', '', ?, '')",
            [(pks[r["id"]], r["title"], " ".join(r["keywords"])) for r in new],
        )
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=10_000)
    args = parser.parse_args()
    server, key = start_server()
    try:
        with ImageServer() as images:
            seed(server.url, key, images, args.images)
        started = time.perf_counter()
        op = httpx.patch(
            f"{server.url}/imgs",
            params={"wait": "true"},
            json=rows(args.images),
            headers={"API-Key": key},
            timeout=600,
        ).json()
        wall = time.perf_counter() - started
        assert op["all_good"] and op["num_good"] == args.images, op
        db = server.data_dir / "pixsearch.db"
        server.stop()
        raw, raw_all = (
            raw_executemany(str(copy_db(db, name)), args.images, derived)
            for name, derived in (("raw", False), ("raw-all", True))
        )
    finally:
        server.stop()
    n = args.images
    print(f"metadata-only PATCH of {n} images (title + keywords)")
    print(f"  request to finished (wall): {wall:.3f} s -> {n / wall:,.0f} items/s")
    print(f"  operation exec_ms: {op['exec_ms']} ms -> {n / (op['exec_ms'] / 1000):,.0f} items/s")
    exec_s = op["exec_ms"] / 1000
    print(f"  raw sqlite3 executemany, images table only: {raw:.3f} s -> {n / raw:,.0f} items/s")
    print(
        f"  raw sqlite3, images + terms + full-text rows: {raw_all:.3f} s "
        f"-> {n / raw_all:,.0f} items/s"
    )
    print(f"  ratio to images-only raw (exec): {raw / exec_s:.2f}   (wall): {raw / wall:.2f}")
    print(
        f"  ratio to all-rows raw    (exec): {raw_all / exec_s:.2f}   "
        f"(wall): {raw_all / wall:.2f}   goal >= 0.2"
    )


def copy_db(db: Path, name: str) -> Path:
    """A copy of the (stopped) server's database file, with its WAL."""
    copy = db.with_name(f"{name}.db")
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{db}{suffix}").exists():
            shutil.copy(f"{db}{suffix}", f"{copy}{suffix}")
    return copy


if __name__ == "__main__":
    main()
