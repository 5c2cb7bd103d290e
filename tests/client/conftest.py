"""A real `pixsearch serve` per engine for the client tests, shared by a module's tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.server import ServerProcess, cli
from tests.postgres import database_of


@dataclass(frozen=True)
class Served:
    """A running service, its database and one organisation's key."""

    url: str
    key: str
    data_dir: Path
    env: dict[str, str]
    server: ServerProcess

    def new_key(self, org: str) -> str:
        return create_key(self.data_dir, org, **self.env)


def create_key(data_dir: Path, org: str, **env: str) -> str:
    return cli(data_dir, "keys", "create", "--org", org, **env).strip().splitlines()[-1].split()[-1]


@contextmanager
def serve(request: pytest.FixtureRequest, engine: str, data_dir: Path) -> Iterator[Served]:
    """`pixsearch serve` on a fresh database of `engine` (body limit 1 MiB), with a key."""
    with database_of(request, engine, data_dir) as url:
        env = {"PIXSEARCH_DATABASE_URL": url, "PIXSEARCH_MAX_BODY_BYTES": str(1024 * 1024)}
        key = create_key(data_dir, "acme", **env)
        with ServerProcess(data_dir, **env) as server:
            yield Served(server.url, key, data_dir, env, server)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    with serve(request, request.param, tmp_path_factory.mktemp(f"served-{request.param}")) as it:
        yield it
