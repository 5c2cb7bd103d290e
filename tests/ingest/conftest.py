"""Fixtures of the ingest tests: fetch settings with short limits, a fresh image server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pixsearch.config import Settings
from tests.imageserver import ImageServer

MakeSettings = Callable[..., Settings]


@pytest.fixture
def make_settings(tmp_path: Path) -> MakeSettings:
    """Settings with loopback allowed and short timeouts; keyword arguments override."""

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "fetch_allow_nets": ["127.0.0.0/8"],
            "fetch_timeout_s": 3.0,
            "fetch_connect_timeout_s": 0.5,
            "fetch_backoff_s": 0.01,
            "fetch_retries": 2,
        }
        values.update(overrides)
        return Settings(**values)

    return build


@pytest.fixture
def server() -> Iterator[ImageServer]:
    """An image server of this test alone, so counts and peaks are this test's own."""
    with ImageServer() as image_server:
        yield image_server
