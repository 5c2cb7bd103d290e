"""Structured logs: JSON lines with request, operation and organisation ids; no secrets."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from pixsearch.monitoring.logs import CURRENT, JsonFormatter, LogContext, TextFormatter
from tests.conftest import Api

MARKER = "BODY-MARKER-7f3a"  # a field value that must never reach a log line


class Lines:
    """What the root logger wrote, one parsed JSON object per line."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def all(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]

    def text(self) -> str:
        return self.stream.getvalue()


@pytest.fixture
def json_log() -> Iterator[Lines]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield Lines(stream)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def record(msg: str, **extra: Any) -> logging.LogRecord:
    return logging.makeLogRecord(
        {"name": "pixsearch.test", "levelname": "INFO", "msg": msg, **extra}
    )


def test_json_lines_carry_the_context_and_the_extra_fields() -> None:
    token = CURRENT.set(LogContext(request_id="r1", org="acme"))
    try:
        line = json.loads(JsonFormatter().format(record("hello", op_id=7, items=3)))
    finally:
        CURRENT.reset(token)
    assert line["message"] == "hello" and line["level"] == "info"
    assert line["logger"] == "pixsearch.test" and line["time"].endswith("Z")
    assert (line["request_id"], line["org"], line["op_id"], line["items"]) == ("r1", "acme", 7, 3)


def test_text_lines_append_the_fields() -> None:
    token = CURRENT.set(LogContext(op_id=5))
    try:
        text = TextFormatter().format(record("done", cause="timeout"))
    finally:
        CURRENT.reset(token)
    assert text.endswith("INFO pixsearch.test: done op_id=5 cause=timeout")


def test_requests_and_operations_log_their_ids(
    api: Api, json_log: Lines, image_url: Any, image_server: Any
) -> None:
    body = [
        {"id": "a", "src": image_url(1), "title": MARKER},
        {"id": "b", "src": image_server.url("/status/404")},
    ]
    response = api.post(
        "/imgs?wait=true&subset=true", json=body, headers={"X-Request-ID": "req-123"}
    )
    assert response.status_code == 200 and response.headers["x-request-id"] == "req-123"
    op_id = response.json()["op_id"]
    plain = api.get("/ops")
    generated = plain.headers["x-request-id"]
    assert len(generated) == 32
    odd = api.get("/ops", headers={"X-Request-ID": "two words"})
    assert odd.headers["x-request-id"] not in ("two words", generated)

    lines = json_log.all()  # every line is one JSON object
    by_message = {line["message"]: line for line in lines}
    access = by_message["POST /imgs 200"]
    assert (access["request_id"], access["org"], access["route"]) == ("req-123", "acme", "/imgs")
    enqueued = by_message[f"operation {op_id} enqueued"]
    assert (enqueued["request_id"], enqueued["op_id"], enqueued["org"]) == (
        "req-123",
        op_id,
        "acme",
    )
    assert enqueued["items"] == 2
    started = by_message[f"operation {op_id} started"]
    finished = by_message[f"operation {op_id} finished"]
    for line in (started, finished):
        assert (line["op_id"], line["org"]) == (op_id, "acme")
    assert (finished["applied"], finished["failed"], finished["all_good"]) == (1, 1, False)
    assert finished["exec_ms"] >= 0 and finished["idle_ms"] >= 0
    failed = [line for line in lines if line.get("cause")]
    assert [(line["image_id"], line["cause"], line["op_id"]) for line in failed] == [
        ("b", "http_status", op_id)
    ]
    assert by_message["GET /ops 200"]["request_id"] in (generated, odd.headers["x-request-id"])
    assert api.headers["API-Key"] not in json_log.text()
    assert MARKER not in json_log.text()


def test_an_unauthenticated_request_logs_no_key(api: Api, json_log: Lines) -> None:
    assert api.get("/ops", headers={"API-Key": "pxs_not-a-real-key"}).status_code == 401
    assert "pxs_not-a-real-key" not in json_log.text()
    assert any(line["message"] == "GET /ops 401" for line in json_log.all())
