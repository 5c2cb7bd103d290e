"""End to end: a real `pixsearch serve` process, its CLI, restarts and kill -9."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import ServerProcess, cli
from tests.imageserver import ImageServer, make_jpeg

pytestmark = pytest.mark.e2e


def create_key(data_dir: Path) -> str:
    return cli(data_dir, "keys", "create", "--org", "e2e").strip().splitlines()[-1].split()[-1]


def test_keys_cli_and_serve(tmp_path: Path, image_server: ImageServer) -> None:
    key = create_key(tmp_path)
    listing = cli(tmp_path, "keys", "list")
    assert "e2e" in listing and key[:12] in listing and key not in listing
    image_server.add("/e2e/a.jpg", make_jpeg(40, 30, 1))
    with ServerProcess(tmp_path) as server:
        health = httpx.get(f"{server.url}/health").json()
        assert health["status"] == "ok" and health["database"] == "sqlite"
        response = httpx.post(
            f"{server.url}/imgs/a",
            params={"wait": "true"},
            json={"src": image_server.url("/e2e/a.jpg")},
            headers={"API-Key": key},
            timeout=30,
        )
        assert response.status_code == 200 and response.json()["all_good"] is True
        cli(tmp_path, "keys", "revoke", key[:12])
        time.sleep(5.1)  # the server's key cache forgets within 5 s
        assert httpx.get(f"{server.url}/ops", headers={"API-Key": key}).status_code == 401


def install_finish_log(db: Path) -> None:
    """Log every transition to finished: an operation applied twice would log twice."""
    with sqlite3.connect(db) as conn:
        conn.executescript(
            "CREATE TABLE IF NOT EXISTS finish_log(op_id INTEGER);"
            "CREATE TRIGGER IF NOT EXISTS log_finish AFTER UPDATE OF state ON operations "
            "WHEN NEW.state = 'finished' AND OLD.state != 'finished' "
            "BEGIN INSERT INTO finish_log VALUES (NEW.id); END;"
        )


@pytest.mark.slow
def test_kill_9_loses_nothing_and_applies_nothing_twice(
    tmp_path: Path, image_server: ImageServer
) -> None:
    key = create_key(tmp_path)
    db = tmp_path / "pixsearch.db"
    install_finish_log(db)
    headers = {"API-Key": key}
    acknowledged: dict[int, list[str]] = {}
    # Kill at three different moments; each round queues about 4 s of work (one operation
    # of an organisation at a time), more than posting it takes on a loaded machine.
    for round_ in range(3):
        server = ServerProcess(tmp_path).start()
        for n in range(8):
            ids = [f"r{round_}-{n}-{i}" for i in range(4)]
            batch = [
                {"id": image_id, "src": image_server.url("/slow?delay=0.5"), "title": image_id}
                for image_id in ids
            ]
            response = httpx.post(f"{server.url}/imgs", json=batch, headers=headers, timeout=10)
            assert response.status_code == 202
            acknowledged[response.json()["operation_id"]] = ids
        # Kill while an operation runs, at a different point of it each round: the worker's
        # claim is waited for first, so that a slow start never leaves nothing running.
        deadline = time.monotonic() + 20
        while running_operations(db) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.1 + 0.3 * round_)
        server.kill()
        with sqlite3.connect(db) as conn:
            running = conn.execute("SELECT count(*) FROM operations WHERE state='running'")
            assert running.fetchone()[0] >= 1  # the kill interrupted an operation
    with ServerProcess(tmp_path) as server:
        deadline = time.monotonic() + 90
        for op_id in acknowledged:
            while True:
                op = httpx.get(f"{server.url}/ops/{op_id}", headers=headers).json()
                if op["is_finished"]:
                    break
                assert time.monotonic() < deadline, f"operation {op_id} never finished"
                time.sleep(0.1)
            assert op["all_good"] is True and op["num_good"] == 4
        for ids in acknowledged.values():
            for image_id in ids:
                image = httpx.get(f"{server.url}/imgs/{image_id}", headers=headers).json()
                assert image["title"] == image_id
    with sqlite3.connect(db) as conn:
        logged = [row[0] for row in conn.execute("SELECT op_id FROM finish_log")]
        attempts = conn.execute("SELECT max(attempts) FROM operations").fetchone()[0]
    assert sorted(logged) == sorted(acknowledged)  # each finished exactly once
    assert attempts >= 2  # some operation really ran again after a kill


def running_operations(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(
            conn.execute("SELECT count(*) FROM operations WHERE state='running'").fetchone()[0]
        )
