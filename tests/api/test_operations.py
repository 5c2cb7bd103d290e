"""Section 4: the operation object, listing, cancelling, urgency and per-organisation order."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from tests.conftest import Api
from tests.imageserver import ImageServer


def slow_src(image_server: ImageServer, seconds: float) -> str:
    return image_server.url(f"/slow?delay={seconds}")


def wait_started(api: Api, op_id: int) -> None:
    deadline = time.monotonic() + 10
    while not api.get(f"/ops/{op_id}").json()["is_started"]:
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_list_is_newest_first_paged_and_filtered(api: Api, image_url: Callable[..., str]) -> None:
    ids = [
        api.post(f"/imgs/l{i}?wait=true", json={"src": image_url(50 + i)}).json()["op_id"]
        for i in range(3)
    ]
    ids.append(api.delete("/imgs/l0?wait=true").json()["op_id"])
    listed = [op["op_id"] for op in api.get("/ops").json()]
    assert listed == sorted(ids, reverse=True)
    page2 = api.get("/ops", params={"page": 2, "limit": 3}).json()
    assert [op["op_id"] for op in page2] == [min(ids)]
    assert [op["method"] for op in api.get("/ops", params={"method": "del"}).json()] == ["del"]
    assert api.get("/ops", params={"is_finished": "false"}).json() == []
    assert api.get("/ops", params={"limit": 1001}).status_code == 422
    assert api.get("/ops", params={"method": "nope"}).status_code == 422


def test_cancel_queued_operation_and_409_once_started(
    api: Api, image_server: ImageServer, image_url: Callable[..., str]
) -> None:
    running = api.post("/imgs/slow", json={"src": slow_src(image_server, 1.5)}).json()
    queued = api.post("/imgs/next", json={"src": image_url(60)}).json()
    wait_started(api, running["operation_id"])
    cancelled = api.delete(f"/ops/{queued['operation_id']}")
    assert cancelled.status_code == 200
    op = cancelled.json()
    assert op["is_finished"] and op["all_good"] is False and not op["is_started"]
    assert op["errors"] == [{"id": None, "msg": "cancelled"}]
    assert api.delete(f"/ops/{running['operation_id']}").status_code == 409
    assert api.finished(running["operation_id"])["all_good"] is True
    assert api.get("/imgs/next").status_code == 404  # the cancelled one never ran


def test_urgent_jumps_the_queue_of_its_organisation(
    api: Api, image_server: ImageServer, image_url: Callable[..., str]
) -> None:
    blocker = api.post("/imgs/b", json={"src": slow_src(image_server, 1.0)}).json()
    wait_started(api, blocker["operation_id"])
    normal = api.post("/imgs/n", json={"src": image_url(61)}).json()["operation_id"]
    urgent = api.post("/imgs/u?urgent=true", json={"src": image_url(62)}).json()["operation_id"]
    first, second = api.finished(urgent), api.finished(normal)
    assert first["do_urgent"] is True
    assert first["started_at"] < second["started_at"]


def test_one_organisations_operations_apply_in_order(
    api: Api, image_server: ImageServer, image_url: Callable[..., str]
) -> None:
    api.post("/imgs/o", json={"src": slow_src(image_server, 0.5), "title": "first"})
    api.patch("/imgs/o", json={"title": "second"})
    last = api.delete("/imgs/o").json()["operation_id"]
    assert api.finished(last)["num_good"] == 1
    assert api.get("/imgs/o").status_code == 404  # add, patch, delete: in that order


def test_timings_of_a_queued_and_finished_operation(
    api: Api, image_server: ImageServer, image_url: Callable[..., str]
) -> None:
    slow = api.post("/imgs/t", json={"src": slow_src(image_server, 0.6)}).json()["operation_id"]
    queued = api.post("/imgs/t2", json={"src": image_url(63)}).json()["operation_id"]
    time.sleep(0.3)
    waiting = api.get(f"/ops/{queued}").json()
    assert waiting["all_good"] is None and waiting["exec_ms"] == 0
    assert waiting["idle_ms"] >= 250 and waiting["started_at"] is None
    done = api.finished(slow)
    assert done["exec_ms"] >= 500 and done["idle_ms"] < 500


def test_wait_gives_202_after_the_wait_limit(api: Api, image_server: ImageServer) -> None:
    state = api.client.app.state  # the app's one Submitter holds the wait limit
    state.submitter = dataclasses.replace(state.submitter, wait_timeout_s=0.3)
    response = api.post("/imgs/w?wait=true", json={"src": slow_src(image_server, 1.0)})
    assert response.status_code == 202
    assert api.finished(response.json()["operation_id"])["all_good"] is True
