"""End to end: real `pixsearch serve` (and, on PostgreSQL, a separate `pixsearch worker`
with its own --metrics-port) after a known workload: every listed family on the scrapes,
the exact counts summed over the processes, and JSON logs that parse line by line."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.server import PixsearchProcess, ServerProcess, cli, free_port
from tests.e2e.worker import WorkerProcess
from tests.imageserver import ImageServer, make_jpeg
from tests.monitoring.scrape import LISTED, Samples, families, parse, value
from tests.postgres import PostgresCluster, no_postgres

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REFUSED = "http://10.1.2.3/private.jpg"


@dataclass
class Deployment:
    api: str
    key: str
    metrics_urls: list[str]
    processes: list[PixsearchProcess] = field(default_factory=list)
    finisher_log: Path | None = None  # where the operations' lifecycle lines are


@pytest.fixture(params=["sqlite", "postgresql"])
def deployment(
    request: pytest.FixtureRequest, tmp_path: Path, postgres: PostgresCluster | None
) -> Iterator[Deployment]:
    env = {"PIXSEARCH_LOG_FORMAT": "json"}
    if request.param == "sqlite":
        key = cli(tmp_path, "keys", "create", "--org", "newsroom", **env).split()[-1]
        server = ServerProcess(tmp_path, **env)
        with server:
            yield Deployment(server.url, key, [f"{server.url}/metrics"], [server], server.log)
        return
    if postgres is None:
        no_postgres()
    with postgres.database() as url:
        env["PIXSEARCH_DATABASE_URL"] = url
        key = cli(tmp_path, "keys", "create", "--org", "newsroom", **env).split()[-1]
        port = free_port()
        server = ServerProcess(tmp_path, "--no-workers", **env)
        worker = WorkerProcess(tmp_path, "worker", "--metrics-port", str(port), **env)
        with server, worker:
            urls = [f"{server.url}/metrics", f"http://127.0.0.1:{port}/metrics"]
            yield Deployment(server.url, key, urls, [server, worker], worker.log)


def scrape_all(deployment: Deployment) -> tuple[set[str], list[Samples]]:
    names: set[str] = set()
    samples = []
    for url in deployment.metrics_urls:
        response = httpx.get(url, timeout=10)
        assert response.status_code == 200
        names |= families(response.text)
        samples.append(parse(response.text))
    return names, samples


def total(samples: list[Samples], name: str, **labels: str) -> float:
    return sum(value(each, name, **labels) for each in samples)


def run_workload(deployment: Deployment, image_server: ImageServer) -> dict[str, int]:
    """Adds, a strict failure, a refused address, a cancel and two searches; the sizes."""
    sizes = {}
    for seed, name in enumerate("ab"):
        data = make_jpeg(64, 48, seed)
        image_server.add(f"/e2e-metrics/{name}.jpg", data)
        sizes[name] = len(data)
    src = {name: image_server.url(f"/e2e-metrics/{name}.jpg") for name in "ab"}
    slow = image_server.url("/slow?delay=3")
    sizes["slow"] = len(httpx.get(slow, timeout=10).content)

    def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"API-Key": deployment.key, "X-Request-ID": f"e2e-{path.count('/')}"}
        return httpx.request(method, deployment.api + path, headers=headers, timeout=60, **kwargs)

    batch = [{"id": n, "src": src[n], "title": "blue dress"} for n in "ab"]
    assert call("POST", "/imgs?wait=true", json=batch).json()["all_good"] is True
    strict = call("POST", "/imgs/a?wait=true&strict=true", json={"src": src["a"]}).json()
    assert strict["errors"][0]["msg"] == "image already exists (strict mode)"
    refused = call("POST", "/imgs/d?wait=true", json={"src": REFUSED}).json()
    assert refused["errors"][0]["msg"].startswith("refused address")
    slow_op = call("POST", "/imgs/slow", json={"src": slow}).json()["operation_id"]
    queued_op = call("POST", "/imgs/f", json={"src": src["a"]}).json()["operation_id"]
    assert call("DELETE", f"/ops/{queued_op}").status_code == 200
    deadline = time.monotonic() + 60
    while not call("GET", f"/ops/{slow_op}").json()["is_finished"]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert call("GET", "/imgs").status_code == 200
    assert call("GET", "/imgs", params={"q": "t~dress"}).json()["count"] == 2
    return sizes


def test_metrics_and_logs_after_a_known_workload(
    deployment: Deployment, image_server: ImageServer
) -> None:
    sizes = run_workload(deployment, image_server)
    names, samples = scrape_all(deployment)

    assert LISTED - names == set()
    add = {"method": "add"}
    expected = {
        ("pixsearch_operations_enqueued_total", ("urgent", "false")): 5,
        ("pixsearch_operations_finished_total", ("outcome", "good")): 2,
        ("pixsearch_operations_finished_total", ("outcome", "failed")): 2,
        ("pixsearch_operations_finished_total", ("outcome", "cancelled")): 1,
        ("pixsearch_items_total", ("outcome", "applied")): 3,
        ("pixsearch_items_total", ("outcome", "failed")): 2,
    }
    for (name, (label, label_value)), n in expected.items():
        assert total(samples, name, **add, **{label: label_value}) == n, name
    assert total(samples, "pixsearch_operation_idle_seconds_count", **add) == 4
    assert total(samples, "pixsearch_operation_exec_seconds_count", **add) == 4
    assert total(samples, "pixsearch_item_failures_total", cause="strict_conflict") == 1
    assert total(samples, "pixsearch_item_failures_total", cause="refused_address") == 1
    assert total(samples, "pixsearch_fetch_duration_seconds_count") == 4  # a b d slow
    assert total(samples, "pixsearch_fetch_bytes_total") == sum(sizes.values())
    assert total(samples, "pixsearch_search_duration_seconds_count", kind="metadata") == 1
    assert total(samples, "pixsearch_search_duration_seconds_count", kind="fulltext") == 1
    for each in samples:  # every process reads the one queue from the database
        assert value(each, "pixsearch_queue_operations", state="queued") == 0
        assert value(each, "pixsearch_queue_operations", state="running") == 0

    api = samples[0]

    def requests(method: str, route: str, status: str) -> float:
        labels = {"method": method, "route": route, "status": status}
        return value(api, "pixsearch_http_requests_total", **labels)

    assert requests("POST", "/imgs", "200") == 1
    assert requests("POST", "/imgs/{image_id}", "200") == 2
    assert requests("POST", "/imgs/{image_id}", "202") == 2
    assert requests("DELETE", "/ops/{op_id}", "200") == 1
    assert requests("GET", "/imgs", "200") == 2
    if len(samples) == 2:  # a separate worker finishes what the API only queued
        worker = samples[1]
        finished = {"method": "add", "outcome": "good"}
        assert value(api, "pixsearch_operations_finished_total", **finished) == 0
        assert value(worker, "pixsearch_operations_finished_total", **finished) == 2
        assert value(worker, "pixsearch_operations_enqueued_total", urgent="false", **add) == 0

    check_logs(deployment)


def check_logs(deployment: Deployment) -> None:
    for process in deployment.processes:
        lines = [json.loads(line) for line in process.log.read_text().splitlines() if line]
        assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
        assert deployment.key not in process.log.read_text()
    server_lines = [
        json.loads(line) for line in deployment.processes[0].log.read_text().splitlines()
    ]
    enqueued = [line for line in server_lines if line["message"].endswith(" enqueued")]
    assert len(enqueued) == 5
    assert all(
        line["org"] == "newsroom" and line["request_id"].startswith("e2e-") for line in enqueued
    )
    assert deployment.finisher_log is not None
    worker_lines = [json.loads(line) for line in deployment.finisher_log.read_text().splitlines()]
    finished = [line for line in worker_lines if line["message"].endswith(" finished")]
    assert len(finished) == 4
    assert all(line["org"] == "newsroom" and "op_id" in line for line in finished)
    causes = sorted(line["cause"] for line in worker_lines if "cause" in line)
    assert causes == ["refused_address", "strict_conflict"]
