"""Fixtures shared by every test: a fresh database on each engine (as a URL, or as a
migrated engine with two organisations), settings on it, the app in-process with its
workers, API keys, and a real HTTP image server on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from pixsearch.app import create_app
from pixsearch.config import Settings
from pixsearch.db.engine import create_db_engine, writer
from pixsearch.db.migrate import upgrade
from pixsearch.db.tables import organisations
from pixsearch.tenants.service import create_key
from tests.imageserver import ImageServer, make_jpeg
from tests.postgres import PostgresCluster, database_of, start_cluster

SHARED = Path(__file__).resolve().parents[2] / "shared"


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for a test: its own data dir, loopback allowed, no models, short timeouts."""
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "fetch_allow_nets": ["127.0.0.0/8", "::1/128"],
        "clip_model": "",
        "text_model": "",
        "face_detector": "off",
        "classifier": "off",
        "colors": "off",
        "wait_timeout_s": 20.0,
        "fetch_timeout_s": 5.0,
        "fetch_connect_timeout_s": 2.0,
        "fetch_backoff_s": 0.05,
        "worker_poll_s": 0.2,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster | None]:
    with start_cluster() as cluster:
        yield cluster


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every test that touches the database runs on both engines."""
    with database_of(request, request.param, tmp_path) as url:
        yield url


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def module_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Like `database_url`, for data shared by a module's read-only tests."""
    with database_of(request, request.param, tmp_path_factory.mktemp("module")) as url:
        yield url


def open_database(url: str) -> sa.Engine:
    """A migrated database with two organisations, 1 (acme) and 2 (globex)."""
    engine = create_db_engine(url)
    upgrade(engine)
    with writer(engine).begin() as conn:
        conn.execute(
            sa.insert(organisations),
            [
                {"id": 1, "name": "acme", "created_at": 0},
                {"id": 2, "name": "globex", "created_at": 0},
            ],
        )
    return engine


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    """The one database fixture of the suite: fresh, migrated, two organisations."""
    engine = open_database(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def module_engine(module_database_url: str) -> Iterator[sa.Engine]:
    """The same, shared by a module's read-only tests."""
    engine = open_database(module_database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url=database_url)


@pytest.fixture(scope="session")
def image_server() -> Iterator[ImageServer]:
    with ImageServer() as server:
        yield server


class Api:
    """A TestClient bound to one organisation's key, with short-hands for the contract."""

    def __init__(self, client: TestClient, key: str) -> None:
        self.client = client
        self.headers = {"API-Key": key}

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Any:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)

    def finished(self, op_id: int, timeout_s: float = 20.0) -> dict[str, Any]:
        """Poll GET /ops/{op_id} until finished."""
        import time

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            op: dict[str, Any] = self.get(f"/ops/{op_id}").json()
            if op["is_finished"]:
                return op
            time.sleep(0.02)
        raise AssertionError(f"operation {op_id} did not finish in {timeout_s} s")


def add_key(settings: Settings, org: str) -> str:
    engine = create_db_engine(settings.resolved_database_url)
    upgrade(engine)
    with writer(engine).begin() as conn:
        key = create_key(conn, org)
    engine.dispose()
    return key


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def api(client: TestClient, settings: Settings) -> Api:
    return Api(client, add_key(settings, "acme"))


@pytest.fixture
def other_api(client: TestClient, settings: Settings) -> Api:
    """A second organisation on the same service."""
    return Api(client, add_key(settings, "globex"))


@pytest.fixture
def image_url(image_server: ImageServer) -> Callable[..., str]:
    """URL of a distinct generated JPEG (64x48 unless told) per seed."""

    def url(seed: int, width: int = 64, height: int = 48) -> str:
        path = f"/img/seed{seed}-{width}x{height}.jpg"
        image_server.add(path, make_jpeg(width, height, seed))
        return image_server.url(path)

    return url
