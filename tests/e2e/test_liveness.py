"""End to end: a process death never fails an acknowledged operation, a poison operation is
stopped without its neighbours, and PostgreSQL requeues a dead worker's operations within
seconds. Real `pixsearch serve` / `pixsearch worker` processes, kill -9, loopback images."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from pixsearch.operations.listener import libpq_dsn
from tests.e2e.server import PixsearchProcess, ServerProcess, cli
from tests.e2e.worker import WorkerProcess
from tests.imageserver import ImageServer, make_jpeg
from tests.postgres import PostgresCluster, no_postgres

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def create_key(data_dir: Path, org: str, **env: str) -> str:
    return cli(data_dir, "keys", "create", "--org", org, **env).split()[-1]


def wait_for(check: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} within {timeout_s} s")


def sqlite_state(data_dir: Path, op_id: int) -> str:
    with sqlite3.connect(data_dir / "pixsearch.db") as conn:
        return str(
            conn.execute("SELECT state FROM operations WHERE id = ?", (op_id,)).fetchone()[0]
        )


def operation(api: str, key: str, op_id: int) -> dict[str, Any]:
    response = httpx.get(f"{api}/ops/{op_id}", headers={"API-Key": key}, timeout=10)
    return dict(response.json())


def test_kill_9_while_an_operation_runs_alone_does_not_fail_it(
    tmp_path: Path, image_server: ImageServer
) -> None:
    """The issue's reproduction: three slow items, kill -9 while they download, restart;
    four times (one more than the old attempt limit). It finishes, all applied."""
    key = create_key(tmp_path, "acme")
    batch = [{"id": f"i{n}", "src": image_server.url(f"/slow?delay=3&n={n}")} for n in range(3)]
    server = ServerProcess(tmp_path).start()
    response = httpx.post(f"{server.url}/imgs", json=batch, headers={"API-Key": key}, timeout=10)
    op_id = response.json()["operation_id"]
    try:
        for _ in range(4):
            wait_for(lambda: sqlite_state(tmp_path, op_id) == "running", 30, "it never ran")
            time.sleep(0.5)
            server.kill()
            server = ServerProcess(tmp_path).start()
        op = wait_for(
            lambda: (found := operation(server.url, key, op_id))["is_finished"] and found,
            60,
            "it never finished",
        )
    finally:
        server.stop()
    assert op["all_good"] is True and op["num_good"] == 3, op


class Poisoned:
    """`pixsearch serve` restarted whenever it dies; the image server kills it with
    SIGKILL whenever the poison image is asked for (as a decoder crash would)."""

    def __init__(self, data_dir: Path, image_server: ImageServer) -> None:
        self.data_dir = data_dir
        self.server: ServerProcess | None = None
        self.deaths = 0
        image_server.on_request("/poison.jpg", self.kill)

    def kill(self) -> None:
        if self.server is not None and self.server.process is not None:
            os.kill(self.server.pid, signal.SIGKILL)

    def run_until(self, done: Callable[[str], bool], restarts: int) -> None:
        """Start the server again after each death until `done(url)`."""
        for _ in range(restarts):
            self.server = server = ServerProcess(self.data_dir)
            with contextlib.suppress(RuntimeError):  # it died while starting
                server.start()
            assert server.process is not None
            while server.process.poll() is None:
                try:
                    if done(server.url):
                        return
                except httpx.HTTPError:
                    pass  # it is dying: poll() says so next
                time.sleep(0.1)
            server.process.wait(30)  # reaped before the next one starts
            self.deaths += 1
        raise AssertionError(f"not done after {restarts} restarts")

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


def test_a_poison_operation_is_stopped_and_its_neighbours_finish(
    tmp_path: Path, image_server: ImageServer
) -> None:
    keys = {org: create_key(tmp_path, org) for org in ("innocent", "poisoner")}
    image_server.add("/poison.jpg", make_jpeg(40, 30, 5))
    good = [{"id": f"g{n}", "src": image_server.url(f"/slow?delay=2&g={n}")} for n in range(2)]
    bad = [{"id": "p", "src": image_server.url("/poison.jpg")}]
    poisoned = Poisoned(tmp_path, image_server)
    ops: dict[str, int] = {}

    def both_finished(url: str) -> bool:
        return all(operation(url, keys[org], op_id)["is_finished"] for org, op_id in ops.items())

    try:
        poisoned.server = server = ServerProcess(tmp_path).start()
        # The innocent operation is downloading when the poison one kills the process.
        for org, batch in (("innocent", good), ("poisoner", bad)):
            response = httpx.post(
                f"{server.url}/imgs", json=batch, headers={"API-Key": keys[org]}, timeout=10
            )
            ops[org] = response.json()["operation_id"]
        assert server.process is not None
        server.process.wait(30)
        poisoned.run_until(both_finished, restarts=12)
        assert poisoned.server is not None
        innocent = operation(poisoned.server.url, keys["innocent"], ops["innocent"])
        poison = operation(poisoned.server.url, keys["poisoner"], ops["poisoner"])
    finally:
        poisoned.stop()
    assert innocent["all_good"] is True and innocent["num_good"] == 2, innocent
    assert poison["all_good"] is False and poison["num_good"] == 0
    assert poison["errors"] == [
        {
            "id": None,
            "msg": "stopped: the process running this operation died 5 times while it ran "
            "alone (PIXSEARCH_MAX_CRASHES); nothing was applied",
        }
    ]
    # The first death had two suspects and blamed neither; five deaths alone followed.
    assert poisoned.deaths == 5


@pytest.fixture
def database(postgres: PostgresCluster | None) -> Iterator[str]:
    if postgres is None:
        no_postgres()
    with postgres.database() as url:
        yield url


def pg_state(url: str, op_id: int) -> str:
    with psycopg.connect(libpq_dsn(url), autocommit=True) as conn:
        row = conn.execute("SELECT state FROM operations WHERE id = %s", (op_id,)).fetchone()
    assert row is not None
    return str(row[0])


def test_postgres_requeues_the_operations_of_killed_processes_within_seconds(
    tmp_path: Path, database: str, image_server: ImageServer
) -> None:
    """kill -9 of the API and both workers mid-operation; with the default stale limit
    (60 s) the interrupted operation finishes within 10 s of the restart, and a wait=true
    write of the same organisation answers 200."""
    env = {"PIXSEARCH_DATABASE_URL": database}
    key = create_key(tmp_path, "acme", **env)
    batch = [{"id": f"i{n}", "src": image_server.url(f"/slow?delay=2&k={n}")} for n in range(3)]

    def start_all() -> tuple[str, list[PixsearchProcess]]:
        server = ServerProcess(tmp_path, "--no-workers", **env).start()
        workers = [WorkerProcess(tmp_path, f"worker{n}", **env).start() for n in range(2)]
        return server.url, [server, *workers]

    api, processes = start_all()
    try:
        response = httpx.post(f"{api}/imgs", json=batch, headers={"API-Key": key}, timeout=10)
        op_id = response.json()["operation_id"]
        wait_for(lambda: pg_state(database, op_id) == "running", 30, "it never ran")
        time.sleep(0.5)
        for process in processes:
            process.kill()
        assert pg_state(database, op_id) == "running"
        launched = time.monotonic()
        api, processes = start_all()
        restarted = time.monotonic()  # all three are up (starting them takes seconds here)
        follow_up = httpx.post(
            f"{api}/imgs/after",
            params={"wait": "true"},
            json={"src": image_server.url("/img/after.jpg")},
            headers={"API-Key": key},
            timeout=60,
        )
        took = time.monotonic() - restarted
        op = operation(api, key, op_id)
    finally:
        for process in processes:
            process.stop()
    assert op["is_finished"] and op["all_good"] is True and op["num_good"] == 3, op
    assert follow_up.status_code == 200 and follow_up.json()["all_good"] is True
    print(
        f"\ninterrupted operation and the next write finished {took:.2f} s after the "
        f"processes were up ({restarted - launched + took:.2f} s after they were launched)"
    )
    assert took < 10, f"the interrupted operation and the next took {took:.1f} s"
