"""End to end: every write answered 202 survives kill -9 of the server, and is applied.

A real `pixsearch serve` takes many concurrent single-image POSTs (no wait) and is killed
with SIGKILL while they stream in. After a restart, every operation id that was answered
202 exists with its item and finishes; no operation is half there (an operation row
without its item, or an item without its operation), whether answered or not.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import ServerProcess, cli
from tests.imageserver import ImageServer, make_jpeg

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

STREAMS = 16  # concurrent connections posting one image after another


def create_key(data_dir: Path) -> str:
    return cli(data_dir, "keys", "create", "--org", "e2e").strip().splitlines()[-1].split()[-1]


async def flood(url: str, key: str, src: str, prefix: str, acknowledged: dict[int, str]) -> int:
    """POST /imgs/{id} from STREAMS connections until the server dies; record the operation
    id of every 202 (with its image id) in `acknowledged`; return how many requests got no
    answer."""
    unanswered = 0

    async def stream(client: httpx.AsyncClient, n: int) -> None:
        nonlocal unanswered
        for i in range(100_000):
            image_id = f"{prefix}-{n}-{i}"
            try:
                response = await client.post(
                    f"/imgs/{image_id}", json={"src": src, "title": image_id}
                )
            except httpx.TransportError:
                unanswered += 1  # in flight when the server died
                return
            assert response.status_code == 202, response.text
            acknowledged[response.json()["operation_id"]] = image_id

    limits = httpx.Limits(max_connections=STREAMS)
    async with httpx.AsyncClient(
        base_url=url, headers={"API-Key": key}, limits=limits, timeout=10
    ) as client:
        await asyncio.gather(*(stream(client, n) for n in range(STREAMS)))
    return unanswered


def kill_after(server: ServerProcess, answers: int, seen: dict[int, str]) -> threading.Thread:
    """kill -9 the server once `seen` holds `answers` answers (or after 60 s)."""

    def kill() -> None:
        deadline = time.monotonic() + 60
        while len(seen) < answers and time.monotonic() < deadline:
            time.sleep(0.001)
        server.kill()

    thread = threading.Thread(target=kill)
    thread.start()
    return thread


def half_there(db: Path) -> list[tuple[str, int]]:
    """Operations whose items are not all stored, and items without their operation."""
    with sqlite3.connect(db) as conn:
        partial = conn.execute(
            "SELECT 'operation', o.id FROM operations o "
            "LEFT JOIN operation_items i ON i.op_id = o.id "
            "GROUP BY o.id HAVING count(i.op_id) != o.num_total"
        ).fetchall()
        orphans = conn.execute(
            "SELECT 'item', i.op_id FROM operation_items i "
            "LEFT JOIN operations o ON o.id = i.op_id WHERE o.id IS NULL"
        ).fetchall()
    return partial + orphans


def test_kill_9_mid_stream_keeps_every_accepted_write(
    tmp_path: Path, image_server: ImageServer
) -> None:
    key = create_key(tmp_path)
    image_server.add("/durable.jpg", make_jpeg(40, 30, 7))
    src = image_server.url("/durable.jpg")
    acknowledged: dict[int, str] = {}
    # Kill at two moments; the workers are off while the writes stream in, so that the
    # queue (not the apply) is under test, and the restart has everything to do.
    for round_, answers in enumerate((100, 250)):
        server = ServerProcess(tmp_path, "--no-workers").start()
        answered: dict[int, str] = {}
        killer = kill_after(server, answers, answered)
        unanswered = asyncio.run(flood(server.url, key, src, f"r{round_}", answered))
        killer.join()
        assert len(answered) >= answers and unanswered >= 1  # killed mid-stream
        assert not acknowledged.keys() & answered.keys()
        acknowledged.update(answered)
        assert half_there(tmp_path / "pixsearch.db") == []
    with (
        ServerProcess(tmp_path) as server,
        httpx.Client(base_url=server.url, headers={"API-Key": key}, timeout=10) as client,
    ):
        deadline = time.monotonic() + 240
        for op_id, image_id in acknowledged.items():
            while not (op := client.get(f"/ops/{op_id}").json())["is_finished"]:
                assert time.monotonic() < deadline, f"operation {op_id} never finished"
                time.sleep(0.2)
            assert op["all_good"] is True and op["num_good"] == 1, op
            assert client.get(f"/imgs/{image_id}").json()["title"] == image_id
    assert half_there(tmp_path / "pixsearch.db") == []
