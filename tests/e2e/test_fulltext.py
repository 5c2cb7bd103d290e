"""End to end: `t~` full text of a real `pixsearch serve` (SQLite, ranked in memory) equals
BM25 over the committed rows, through writes, patches, deletes, restarts and kill -9."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import ServerProcess, cli
from tests.imageserver import ImageServer, make_jpeg
from tests.index.test_postings import brute_force_columns

pytestmark = pytest.mark.e2e
WORDS = "red blue car boat Café niño Москва".split()


def create_key(data_dir: Path, org: str) -> str:
    return cli(data_dir, "keys", "create", "--org", org).strip().splitlines()[-1].split()[-1]


def stored(db: Path, org: str) -> dict[int, list[str]]:
    """The organisation's committed full-text rows, read from the file itself."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT f.rowid, f.title, f.headline, f.caption, f.alt_text, f.keywords, f.labels "
            "FROM images_fts AS f JOIN images ON images.id = f.rowid "
            "JOIN organisations AS o ON o.id = images.org_id WHERE o.name = ?",
            (org,),
        ).fetchall()
        ids = dict(conn.execute("SELECT id, image_id FROM images").fetchall())
    stored.ids = ids  # type: ignore[attr-defined]
    return {row[0]: list(row[1:]) for row in rows}


def check(server: ServerProcess, db: Path, keys: dict[str, str]) -> None:
    """Every query word's hits, in order, equal brute force, for both organisations."""
    for org, key in keys.items():
        docs = stored(db, org)
        ids = stored.ids  # type: ignore[attr-defined]
        for text in ("red", "car boat", "cafe", "МОСКВА", "nowhere"):
            answer = httpx.get(
                f"{server.url}/imgs",
                params={"q": f"t~{text}", "limit": 1000, "fields": "image_id"},
                headers={"API-Key": key},
                timeout=30,
            ).json()
            expected = [ids[pk] for pk in brute_force_columns(docs, text, "en")]
            assert [r["image_id"] for r in answer["results"]] == expected, (org, text)
            assert answer["count"] == len(expected)


def wait_all(server: ServerProcess, key: str, op_ids: list[int]) -> None:
    deadline = time.monotonic() + 120
    for op_id in op_ids:
        while not httpx.get(f"{server.url}/ops/{op_id}", headers={"API-Key": key}).json()[
            "is_finished"
        ]:
            assert time.monotonic() < deadline, f"operation {op_id} never finished"
            time.sleep(0.1)


@pytest.mark.slow
def test_full_text_follows_writes_and_survives_kill_9(
    tmp_path: Path, image_server: ImageServer
) -> None:
    keys = {org: create_key(tmp_path, org) for org in ("acme", "globex")}
    db = tmp_path / "pixsearch.db"
    image_server.add("/ft/a.jpg", make_jpeg(40, 30, 1))
    src = image_server.url("/ft/a.jpg")
    with ServerProcess(tmp_path) as server:
        for n, key in enumerate(keys.values()):
            batch = [
                {"id": f"i{i}", "src": src, "title": f"{WORDS[(i + n) % 7]} {WORDS[i % 5]}"}
                for i in range(30)
            ]
            answer = httpx.post(
                f"{server.url}/imgs",
                params={"wait": "true"},
                json=batch,
                headers={"API-Key": key},
                timeout=60,
            )
            assert answer.status_code == 200 and answer.json()["all_good"] is True
        check(server, db, keys)  # loads each organisation's index
        key = keys["acme"]
        patched = [{"id": f"i{i}", "title": "boat boat red", "keywords": ["car"]} for i in range(8)]
        ops = [httpx.patch(f"{server.url}/imgs", json=patched, headers={"API-Key": key})]
        ops.append(
            httpx.request(
                "DELETE",
                f"{server.url}/imgs",
                json=[{"id": f"i{i}"} for i in range(20, 25)],
                headers={"API-Key": key},
            )
        )
        wait_all(server, key, [op.json()["operation_id"] for op in ops])
        check(server, db, keys)  # followed the patch and the delete
    # Queue many small patches and kill -9 in the middle of them.
    acknowledged = []
    with ServerProcess(tmp_path) as server:  # stopped on the way out should a check fail
        check(server, db, keys)  # loaded again after a restart
        for i in range(30):
            body = [{"id": f"i{i}", "title": f"red {WORDS[(i * 3) % 7]} car"}]
            answer = httpx.patch(f"{server.url}/imgs", json=body, headers={"API-Key": keys["acme"]})
            acknowledged.append(answer.json()["operation_id"])
            if i == 10:  # a search while patches apply: the index follows them as they commit
                search = {"q": "t~red", "fields": "image_id"}
                answer = httpx.get(f"{server.url}/imgs", params=search, headers={"API-Key": key})
                assert answer.status_code == 200
        server.kill()
    with ServerProcess(tmp_path) as server:
        wait_all(server, keys["acme"], acknowledged)
        check(server, db, keys)
        titles = httpx.get(f"{server.url}/imgs/i29", headers={"API-Key": keys["acme"]}).json()[
            "title"
        ]
        assert titles.startswith("red ")  # the last acknowledged patch was applied
