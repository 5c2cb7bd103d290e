"""End to end on PostgreSQL: one `serve --no-workers`, two `pixsearch worker` processes,
100 operations of two organisations, and a kill -9 of a worker that holds an operation.

Exactly once is checked by triggers, not by the final state: every write to `images` is
logged with the title it wrote (each operation writes a title no other operation writes),
and every transition of an operation to finished is logged. A double apply would log a
title, or an operation, twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from pixsearch.operations.listener import libpq_dsn
from tests.e2e.server import ServerProcess, cli
from tests.e2e.worker import WorkerProcess
from tests.imageserver import ImageServer, generated
from tests.postgres import PostgresCluster, no_postgres

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ORGS = ("alpha", "beta")
OPS_PER_ORG = 50
ADD_EVERY = 5  # every fifth operation of an organisation adds an image; the rest patch it
STALE_S = "600"  # a dead worker is noticed through its database session, not the heartbeat
AUDIT_SQL = """
CREATE TABLE apply_log (id bigserial PRIMARY KEY, org_id bigint, image_id text, title text);
CREATE FUNCTION log_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO apply_log (org_id, image_id, title)
      VALUES (NEW.org_id, NEW.image_id, NEW.title); RETURN NULL; END $$;
CREATE TRIGGER log_apply AFTER INSERT OR UPDATE ON images
    FOR EACH ROW EXECUTE FUNCTION log_apply();
CREATE TABLE finish_log (op_id bigint);
CREATE FUNCTION log_finish() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO finish_log VALUES (NEW.id); RETURN NULL; END $$;
CREATE TRIGGER log_finish AFTER UPDATE OF state ON operations FOR EACH ROW
    WHEN (NEW.state = 'finished' AND OLD.state <> 'finished') EXECUTE FUNCTION log_finish();
"""


@pytest.fixture
def database(postgres: PostgresCluster | None) -> Iterator[str]:
    if postgres is None:
        no_postgres()
    with postgres.database() as url:
        with psycopg.connect(libpq_dsn(url), autocommit=True) as conn:
            conn.execute(AUDIT_SQL)
        yield url


def query(url: str, sql: str, *params: object) -> list[tuple[object, ...]]:
    with psycopg.connect(libpq_dsn(url), autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def submit(api: str, key: str, org: str, k: int, src: str, **params: str) -> httpx.Response:
    """Operation k of an organisation: an add every ADD_EVERY, else a patch of that image."""
    image_id, title = f"{org}-{k // ADD_EVERY}", f"{org}:{k}"
    headers = {"API-Key": key}
    if k % ADD_EVERY == 0:
        body = {"src": src, "title": title}
        return httpx.post(
            f"{api}/imgs/{image_id}", json=body, headers=headers, params=params, timeout=30
        )
    return httpx.patch(
        f"{api}/imgs/{image_id}", json={"title": title}, headers=headers, params=params, timeout=30
    )


class Gate:
    """The image server's hook for the adds' image: each request waits `delay_s`, then,
    while the gate is closed, is held until it opens. `held` counts only requests really
    held (checked and counted under one lock), so an add whose request is counted cannot
    have its image, and cannot finish, until `open()`."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.lock = threading.Lock()
        self.opened = threading.Event()
        self.opened.set()
        self.held = 0

    def __call__(self) -> None:  # in the image server's request thread
        time.sleep(self.delay_s)
        with self.lock:
            if self.opened.is_set():
                return
            self.held += 1
        self.opened.wait(timeout=60)
        with self.lock:
            self.held -= 1

    def close(self) -> None:
        with self.lock:
            self.opened.clear()

    def open(self) -> None:
        with self.lock:
            self.opened.set()

    def holding(self) -> int:
        with self.lock:
            return self.held


def kill_while_held(url: str, worker: WorkerProcess, gate: Gate, min_finished: int) -> int:
    """kill -9 the worker while the fetch of its add is held at the gate, past
    `min_finished` finished operations; the add's id.

    A held request belongs to a running add, which stays running until the gate opens. So
    when as many requests are held (counted first) as there are running adds (queried
    after), every running add is held, the worker's too: it cannot finish before the kill.
    (Caught merely running, an add could finish between the query and the kill, and never
    run again.)"""
    deadline = time.monotonic() + 60
    finished = "SELECT count(*) FROM operations WHERE state = 'finished'"
    while query(url, finished)[0][0] < min_finished:  # type: ignore[operator]
        assert time.monotonic() < deadline, query(
            url, "SELECT state, count(*) FROM operations GROUP BY 1"
        )
        time.sleep(0.02)
    gate.close()
    try:
        while time.monotonic() < deadline:
            held = gate.holding()
            running = query(
                url, "SELECT id, worker FROM operations WHERE state = 'running' AND mode = 'add'"
            )
            mine = [op for op, by in running if f":{worker.pid}:" in str(by)]
            if mine and len(running) == held:
                worker.kill()
                # The other worker requeues it within seconds (the killed one's presence
                # session is gone); that it really ran again shows in its attempts, below.
                return int(mine[0])  # type: ignore[call-overload]
            time.sleep(0.02)
    finally:
        gate.open()
    states = query(url, "SELECT state, mode, worker, count(*) FROM operations GROUP BY 1, 2, 3")
    raise AssertionError(f"worker {worker.pid} never held an add at the gate: {states}")


def wait_all_finished(url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while query(url, "SELECT count(*) FROM operations WHERE state <> 'finished'")[0][0]:
        assert time.monotonic() < deadline, query(
            url, "SELECT id, state, worker, attempts FROM operations WHERE state <> 'finished'"
        )
        time.sleep(0.1)


def test_kill_9_of_a_worker_applies_every_operation_once_in_order(
    tmp_path: Path, database: str, image_server: ImageServer
) -> None:
    env = {"PIXSEARCH_DATABASE_URL": database, "PIXSEARCH_WORKER_STALE_S": STALE_S}
    keys = {org: cli(tmp_path, "keys", "create", "--org", org, **env).split()[-1] for org in ORGS}
    org_ids = dict(query(database, "SELECT name, id FROM organisations"))
    # The adds' image, 0.4 s to answer; its gate holds fetches for the kill.
    gate, path = Gate(delay_s=0.4), f"/gated-{tmp_path.name}.jpg"
    image_server.add(path, generated("gated", "jpg")[0])
    image_server.on_request(path, gate)
    src = image_server.url(path)
    # The API polls every 30 s: a prompt wait=true answer can only come from NOTIFY.
    server = ServerProcess(tmp_path, "--no-workers", PIXSEARCH_WORKER_POLL_S="30", **env)
    worker_env = {**env, "PIXSEARCH_WORKER_POLL_S": "2"}
    workers = [WorkerProcess(tmp_path, f"worker{n}", **worker_env) for n in range(3)]
    try:
        server.start()
        # Queue everything first: on a loaded machine, workers started earlier could drain
        # the queue before the test gets to see one of them holding an operation.
        for k in range(OPS_PER_ORG):
            for org in ORGS:
                if (org, k) != (ORGS[-1], OPS_PER_ORG - 1):  # the last one waits, below
                    assert submit(server.url, keys[org], org, k, src).status_code == 202
        workers[0].start()
        workers[1].start()
        killed_op = kill_while_held(database, workers[0], gate, min_finished=4)
        workers[2].start()  # the replacement
        wait_all_finished(database, timeout_s=40)

        started = time.monotonic()
        last = submit(server.url, keys[ORGS[-1]], ORGS[-1], OPS_PER_ORG - 1, src, wait="true")
        assert last.status_code == 200 and last.json()["all_good"] is True
        assert time.monotonic() - started < 5  # woken by NOTIFY, not by the 30 s poll
    finally:
        for process in (*workers, server):
            process.stop()

    ops = query(database, "SELECT id, state, all_good, attempts FROM operations ORDER BY id")
    assert len(ops) == len(ORGS) * OPS_PER_ORG
    assert all(state == "finished" and good for _, state, good, _ in ops)
    attempts = {op_id: n for op_id, _, _, n in ops}
    assert attempts[killed_op] == 2  # it really ran again after the kill
    finishes = [row[0] for row in query(database, "SELECT op_id FROM finish_log")]
    assert sorted(finishes) == sorted(attempts)  # each operation finished exactly once
    for org in ORGS:
        titles = [
            row[0]
            for row in query(
                database, "SELECT title FROM apply_log WHERE org_id = %s ORDER BY id", org_ids[org]
            )
        ]
        # every operation wrote once (a double apply repeats a title), in submission order
        assert titles == [f"{org}:{k}" for k in range(OPS_PER_ORG)]


def test_a_stopped_worker_hands_its_operation_back_at_once(
    tmp_path: Path, database: str, image_server: ImageServer
) -> None:
    """SIGTERM: the running operation goes back to the queue now, not after the stale
    limit, and the interrupted try does not count towards the attempt limit."""
    env = {"PIXSEARCH_DATABASE_URL": database, "PIXSEARCH_WORKER_STALE_S": "600"}
    key = cli(tmp_path, "keys", "create", "--org", "acme", **env).split()[-1]
    server = ServerProcess(tmp_path, "--no-workers", **env)
    first = WorkerProcess(tmp_path, "first", **env)
    second = WorkerProcess(tmp_path, "second", **env)
    try:
        server.start()
        src = image_server.url("/slow?delay=5")
        response = submit(server.url, key, "acme", 0, src)
        op_id = response.json()["operation_id"]
        first.start()
        deadline = time.monotonic() + 20
        while query(database, "SELECT state FROM operations WHERE id = %s", op_id)[0][0] != (
            "running"
        ):
            assert time.monotonic() < deadline, "the worker never claimed the operation"
            time.sleep(0.05)
        assert first.process is not None
        first.process.terminate()
        first.process.wait(15)
        state, worker, attempts = query(
            database, "SELECT state, worker, attempts FROM operations WHERE id = %s", op_id
        )[0]
        assert (state, worker, attempts) == ("queued", None, 0)
        second.start()
        wait_all_finished(database, timeout_s=30)
    finally:
        for process in (first, second, server):
            process.stop()
    good, attempts = query(
        database, "SELECT all_good, attempts FROM operations WHERE id = %s", op_id
    )[0]
    assert good is True and attempts == 1
