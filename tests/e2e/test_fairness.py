"""End to end: one organisation's slow downloads do not slow another's.

Organisation `slow` posts 10,000 items whose host answers like a slow loris (a
Content-Length of 100 kB, then one byte a second); organisation `fast` then adds one
image from a healthy host with `wait=true`. The add must take under 2 s more than the
same add on the idle service: on SQLite (one `serve`) and on PostgreSQL (`serve
--no-workers` and two `pixsearch worker`).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import PixsearchProcess, ServerProcess, cli
from tests.e2e.worker import WorkerProcess
from tests.imageserver import ImageServer
from tests.postgres import PostgresCluster, no_postgres

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LORIS_ITEMS = 10_000
MARGIN_S = 2.0  # the goal of the issue: at most this much slower than on an idle service


def timed_add(api: str, key: str, image_id: str, src: str) -> float:
    """Seconds that a single add with wait=true takes; it must succeed."""
    started = time.perf_counter()
    response = httpx.post(
        f"{api}/imgs/{image_id}",
        params={"wait": "true"},
        json={"src": src},
        headers={"API-Key": key},
        timeout=120,
    )
    took = time.perf_counter() - started
    assert response.status_code == 200, (response.status_code, response.text, took)
    assert response.json()["all_good"] is True
    return took


def median_add(api: str, key: str, healthy: ImageServer, tag: str) -> float:
    return statistics.median(
        timed_add(api, key, f"{tag}{n}", healthy.url(f"/img/{tag}{n}.jpg")) for n in range(3)
    )


def check_goal(api: str, keys: dict[str, str], healthy: ImageServer, engine: str) -> None:
    idle = median_add(api, keys["fast"], healthy, "idle")
    with ImageServer() as loris:
        batch = [
            {"id": f"s{n}", "src": loris.url(f"/loris?length=100000&interval=1&n={n}")}
            for n in range(LORIS_ITEMS)
        ]
        response = httpx.post(
            f"{api}/imgs",
            params={"subset": "true"},
            json=batch,
            headers={"API-Key": keys["slow"]},
            timeout=120,
        )
        assert response.status_code == 202, response.text
        deadline = time.monotonic() + 60
        while loris.in_flight < 8:  # the slow host's connection limit, all held
            assert time.monotonic() < deadline, "the slow batch never got going"
            time.sleep(0.1)
        busy = median_add(api, keys["fast"], healthy, "busy")
        held = loris.in_flight
    print(f"\n{engine}: single add idle {idle:.3f} s, beside the slow loris batch {busy:.3f} s")
    assert held >= 8  # the slow batch was still downloading throughout
    assert busy < idle + MARGIN_S, f"idle {idle:.2f} s, beside the slow batch {busy:.2f} s"


def start_keys(data_dir: Path, **env: str) -> dict[str, str]:
    return {
        org: cli(data_dir, "keys", "create", "--org", org, **env).split()[-1]
        for org in ("slow", "fast")
    }


def test_a_slow_loris_batch_does_not_slow_another_organisation_on_sqlite(
    tmp_path: Path, image_server: ImageServer
) -> None:
    keys = start_keys(tmp_path)
    with ServerProcess(tmp_path) as server:
        check_goal(server.url, keys, image_server, "sqlite")


@pytest.fixture
def database(postgres: PostgresCluster | None) -> Iterator[str]:
    if postgres is None:
        no_postgres()
    with postgres.database() as url:
        yield url


def test_a_slow_loris_batch_does_not_slow_another_organisation_on_postgres(
    tmp_path: Path, database: str, image_server: ImageServer
) -> None:
    env = {"PIXSEARCH_DATABASE_URL": database}
    keys = start_keys(tmp_path, **env)
    processes: list[PixsearchProcess] = []
    try:
        server = ServerProcess(tmp_path, "--no-workers", **env).start()
        processes.append(server)
        for n in range(2):
            processes.append(WorkerProcess(tmp_path, f"worker{n}", **env).start())
        check_goal(server.url, keys, image_server, "postgresql")
    finally:
        for process in processes:
            process.stop()
