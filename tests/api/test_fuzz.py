"""Schema-driven fuzzing: schemathesis generates requests from the app's own
`/openapi.json` (valid and invalid ones) against a real `pixsearch serve` on SQLite, and
fails on any 5xx or any status code the schema does not document. Bounded to about two
minutes: a fixed number of examples per operation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from tests.e2e.server import ServerProcess, cli

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EXAMPLES_PER_OPERATION = 100
CHECKS = [not_a_server_error, status_code_conformance]


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    data_dir: Path = tmp_path_factory.mktemp("fuzz")
    env = {
        # Generated sources point anywhere; a write waits at most a second for them.
        "PIXSEARCH_WAIT_TIMEOUT_S": "1",
        "PIXSEARCH_FETCH_CONNECT_TIMEOUT_S": "0.5",
        "PIXSEARCH_FETCH_TIMEOUT_S": "1",
        "PIXSEARCH_FETCH_RETRIES": "0",
    }
    key = cli(data_dir, "keys", "create", "--org", "fuzz", **env).split()[-1]
    with ServerProcess(data_dir, **env) as server:
        yield server.url, key


def test_no_input_gives_a_5xx_or_an_undocumented_status(fuzzed_server: tuple[str, str]) -> None:
    url, key = fuzzed_server
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14  # every endpoint of the contract is in the schema

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def call(case: schemathesis.Case) -> None:
            case.call_and_validate(
                base_url=url,
                headers={"API-Key": key},
                checks=CHECKS,
                timeout=30,
            )

        call()
