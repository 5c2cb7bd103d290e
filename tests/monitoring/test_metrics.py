"""GET /metrics after a known workload: every listed family, and counters that moved by
exactly the workload (in-process workers, on both engines, with the tiny models)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from pixsearch.app import create_app
from pixsearch.config import Settings
from pixsearch.monitoring.metrics import Metrics
from tests.conftest import Api, make_settings
from tests.e2e.server import free_port
from tests.imageserver import ImageServer, make_jpeg
from tests.monitoring.scrape import LISTED, Samples, delta, families, parse, value
from tests.runtimes.tinymodels import build_tiny_clip, build_tiny_text

REFUSED = "http://10.1.2.3/private.jpg"  # not in the allowed nets: the guard refuses it


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("models")
    return build_tiny_clip(root / "clip"), build_tiny_text(root / "text")


@pytest.fixture
def settings(tmp_path: Path, model_dirs: tuple[Path, Path], database_url: str) -> Settings:
    clip, text = model_dirs
    return make_settings(
        tmp_path, clip_model=str(clip), text_model=str(text), database_url=database_url
    )


def scrape(api: Api) -> tuple[str, Samples]:
    response = api.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text, parse(response.text)


def picture(server: ImageServer, name: str, seed: int) -> tuple[str, int]:
    """A distinct JPEG on the image server: its URL and its size in bytes."""
    data = make_jpeg(64, 48, seed)
    server.add(f"/metrics/{name}.jpg", data)
    return server.url(f"/metrics/{name}.jpg"), len(data)


def test_counters_move_by_exactly_the_workload(api: Api, image_server: ImageServer) -> None:
    urls = {name: picture(image_server, name, seed) for seed, name in enumerate("abcge")}
    slow = image_server.url("/slow?delay=3")
    slow_bytes = len(httpx.get(slow, timeout=10).content)
    _, before = scrape(api)
    polls = 0

    def finished(op_id: int) -> dict[str, object]:
        nonlocal polls
        while True:
            polls += 1
            op: dict[str, object] = api.get(f"/ops/{op_id}").json()
            if op["is_finished"]:
                return op
            time.sleep(0.05)

    # 1. three adds, all good; a has a caption (title) to embed
    batch = [{"id": n, "src": urls[n][0]} for n in "abc"]
    batch[0]["title"] = "red dress"
    assert api.post("/imgs?wait=true", json=batch).json()["all_good"] is True
    # 2. strict add: a exists and fails; g is fetched and analysed, then discarded
    strict = [{"id": "a", "src": urls["a"][0]}, {"id": "g", "src": urls["g"][0]}]
    op = api.post("/imgs?wait=true&strict=true", json=strict).json()
    assert (op["num_good"], op["num_bad"]) == (0, 1)
    # 3. subset: d's address is refused, e is applied
    subset = [{"id": "d", "src": REFUSED}, {"id": "e", "src": urls["e"][0]}]
    op = api.post("/imgs?wait=true&subset=true", json=subset).json()
    assert (op["num_good"], op["num_bad"]) == (1, 1), op
    # 4. a slow add keeps the organisation busy, so the next add stays queued: cancel it
    slow_op = api.post("/imgs/slow", json={"src": slow}).json()["operation_id"]
    queued_op = api.post("/imgs/f", json={"src": urls["a"][0]}).json()["operation_id"]
    while not api.get(f"/ops/{slow_op}").json()["is_started"]:
        polls += 1
        time.sleep(0.02)
    polls += 1
    _, busy = scrape(api)
    assert value(busy, "pixsearch_queue_operations", state="queued") == 1
    assert value(busy, "pixsearch_queue_operations", state="running") == 1
    assert api.delete(f"/ops/{queued_op}").status_code == 200
    assert finished(slow_op)["all_good"] is True
    # 5. searches: two metadata, one image similarity, one text (fused: hybrid)
    for q in ("", "w>10", "i~a", "t~red"):
        assert api.get("/imgs", params={"q": q}).status_code == 200
    text, after = scrape(api)

    assert LISTED - families(text) == set()

    def moved(name: str, **labels: str) -> float:
        return delta(before, after, name, **labels)

    add = {"method": "add"}
    assert moved("pixsearch_operations_enqueued_total", urgent="false", **add) == 5
    assert moved("pixsearch_operations_finished_total", outcome="good", **add) == 2
    assert moved("pixsearch_operations_finished_total", outcome="failed", **add) == 2
    assert moved("pixsearch_operations_finished_total", outcome="cancelled", **add) == 1
    assert moved("pixsearch_operation_idle_seconds_count", **add) == 4
    assert moved("pixsearch_operation_exec_seconds_count", **add) == 4
    assert moved("pixsearch_operation_exec_seconds_sum", **add) >= 3.0  # the slow image
    assert moved("pixsearch_items_total", outcome="applied", **add) == 5  # a b c e slow
    assert moved("pixsearch_items_total", outcome="failed", **add) == 2
    assert moved("pixsearch_items_total", outcome="discarded", **add) == 1  # g
    assert moved("pixsearch_items_total", outcome="skipped", **add) == 0
    assert moved("pixsearch_item_failures_total", cause="strict_conflict") == 1
    assert moved("pixsearch_item_failures_total", cause="refused_address") == 1
    fetched = [urls[n][1] for n in "abcge"] + [slow_bytes]
    assert moved("pixsearch_fetch_duration_seconds_count") == 7  # a b c g d e slow
    assert moved("pixsearch_fetch_bytes_total") == sum(fetched)
    # every analysed image went through the CLIP batcher, the one caption through the text one
    models = api.client.app.state.resources.models  # type: ignore[attr-defined]
    clip, caption = models.clip.name, models.text.name
    assert moved("pixsearch_inference_batch_size_sum", model=clip) == 6
    assert moved("pixsearch_inference_batch_size_sum", model=caption) == 1
    batches = moved("pixsearch_inference_batch_size_count", model=clip)
    assert 1 <= batches <= 6
    assert moved("pixsearch_inference_duration_seconds_count", model=clip) == batches
    assert moved("pixsearch_search_duration_seconds_count", kind="metadata") == 2
    assert moved("pixsearch_search_duration_seconds_count", kind="vector") == 1
    assert moved("pixsearch_search_duration_seconds_count", kind="hybrid") == 1
    assert value(after, "pixsearch_vector_index_vectors", kind="clip") == 5
    assert value(after, "pixsearch_vector_index_vectors", kind="caption") == 1
    assert value(after, "pixsearch_queue_operations", state="queued") == 0
    assert value(after, "pixsearch_queue_operations", state="running") == 0

    def requests(method: str, route: str, status: str) -> float:
        return moved("pixsearch_http_requests_total", method=method, route=route, status=status)

    assert requests("POST", "/imgs", "200") == 3
    assert requests("POST", "/imgs/{image_id}", "202") == 2
    assert requests("DELETE", "/ops/{op_id}", "200") == 1
    assert requests("GET", "/imgs", "200") == 4
    assert requests("GET", "/ops/{op_id}", "200") == polls
    assert requests("GET", "/metrics", "200") == 2  # the first scrape and the busy one
    duration = moved("pixsearch_http_request_duration_seconds_count", method="POST", route="/imgs")
    assert duration == 3
    labels = {label for (_, labelset) in after for label in labelset}
    assert not any("slow" in v or "127.0.0.1" in v for _, v in labels)  # no ids, no URLs


def test_a_repeated_idempotency_key_is_one_enqueue(api: Api) -> None:
    _, before = scrape(api)
    headers = {"Idempotency-Key": "once"}
    answers = [api.post("/imgs/again", json={"src": REFUSED}, headers=headers) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [202, 202, 202]
    assert len({answer.json()["operation_id"] for answer in answers}) == 1
    _, after = scrape(api)
    enqueued = delta(
        before, after, "pixsearch_operations_enqueued_total", method="add", urgent="false"
    )
    assert enqueued == 1


def test_unknown_paths_share_one_route_label(api: Api) -> None:
    for n in range(3):
        assert api.get(f"/no/such/path/{n}").status_code == 404
    _, samples = scrape(api)
    labels = {"method": "GET", "route": "unmatched", "status": "404"}
    assert value(samples, "pixsearch_http_requests_total", **labels) == 3


def test_metrics_off_serves_nothing(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, metrics="off")
    with TestClient(create_app(settings)) as client:
        assert client.get("/metrics").status_code == 404
        assert client.app.state.resources.metrics is None  # type: ignore[attr-defined]


def test_organisation_labels_only_when_asked() -> None:
    plain, per_org = Metrics(), Metrics(per_org=True)
    for metrics in (plain, per_org):
        metrics.count_enqueued("add", False, "acme")
    assert 'org="acme"' not in plain.render().decode()
    assert 'pixsearch_operations_enqueued_total{method="add",org="acme",urgent="false"}' in (
        per_org.render().decode()
    )


def test_a_metrics_port_serves_them_off_the_api_port(tmp_path: Path) -> None:
    port = free_port()
    settings = make_settings(tmp_path, metrics_port=port)
    with TestClient(create_app(settings)) as client:
        assert client.get("/metrics").status_code == 404  # not on the API port
        assert client.get("/health").status_code == 200
        response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert response.status_code == 200
        samples = parse(response.text)
        health = {"method": "GET", "route": "/health", "status": "200"}
        assert value(samples, "pixsearch_http_requests_total", **health) == 1
    with pytest.raises(httpx.ConnectError):  # closed with the app
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
