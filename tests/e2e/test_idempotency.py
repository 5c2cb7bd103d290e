"""Identical writes with one Idempotency-Key racing into two `pixsearch serve` processes
on one database create exactly one operation, on both engines. The processes share
nothing but the database, so only its primary key on (organisation, key) can decide."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.client.conftest import create_key
from tests.e2e.server import ServerProcess
from tests.postgres import database_of

pytestmark = pytest.mark.e2e

RACERS = 24  # requests per round, split over the two processes
ROUNDS = 5


@pytest.fixture(params=["sqlite", "postgresql"])
def two_servers(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, list[ServerProcess]]]:
    with database_of(request, request.param, tmp_path) as url:
        env = {"PIXSEARCH_DATABASE_URL": url}
        key = create_key(tmp_path, "racers", **env)
        # One runs workers (on SQLite the only one may: it recovers at start); the other
        # only answers, as an API replica would.
        first = ServerProcess(tmp_path, **env)
        second = ServerProcess(tmp_path / "second", "--no-workers", **env)
        with first, second:
            yield key, [first, second]


def race(urls: list[str], key: str, idempotency_key: str) -> list[httpx.Response]:
    """RACERS identical PATCHes released at once, alternating between the servers."""
    barrier = threading.Barrier(RACERS)
    answers: list[httpx.Response] = []
    body = [{"id": f"img{n}", "title": "raced"} for n in range(200)]
    headers = {"API-Key": key, "Idempotency-Key": idempotency_key}

    def send(n: int) -> None:
        with httpx.Client(base_url=urls[n % len(urls)], timeout=30) as http:
            http.get("/health")  # connect before the barrier
            barrier.wait()
            answers.append(http.patch("/imgs", json=body, headers=headers))

    threads = [threading.Thread(target=send, args=(n,)) for n in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_racing_identical_requests_on_two_processes_create_one_operation(
    two_servers: tuple[str, list[ServerProcess]],
) -> None:
    key, servers = two_servers
    urls = [server.url for server in servers]
    for round_ in range(ROUNDS):
        answers = race(urls, key, f"race-{round_}")
        assert [answer.status_code for answer in answers] == [202] * RACERS
        assert len({answer.json()["operation_id"] for answer in answers}) == 1
    ops = httpx.get(f"{urls[0]}/ops", params={"limit": 100}, headers={"API-Key": key}).json()
    assert len(ops) == ROUNDS
