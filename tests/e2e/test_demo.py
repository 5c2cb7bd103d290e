"""`make serve` (python -m pixsearch.demo): it shows the app's URL and key, its pictures
appear in the app, and a port already in use is a clear error at once, not a hang."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.server import free_port, server_env

pytestmark = pytest.mark.e2e


def test_a_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        demo = subprocess.run(
            [sys.executable, "-m", "pixsearch.demo"],
            env=server_env(tmp_path, PORT=str(port)),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert demo.returncode == 1
    assert f"Port {port} on 127.0.0.1 is not free" in demo.stderr
    assert f"make serve PORT={port + 1}" in demo.stderr
    assert time.monotonic() - started < 30


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The demo running on a free port: (the app's URL, the key it printed)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pixsearch.demo"],
        env=server_env(tmp_path, PORT=str(port)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines: dict[str, str] = {}
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith(("The app:", "Key:")):
                lines[line.split(":")[0]] = line.split()[2 if line.startswith("The") else 1]
            if "Key" in lines:
                break
        assert lines["The app"] == f"http://127.0.0.1:{port}/"
        yield lines["The app"], lines["Key"]
    finally:
        process.terminate()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


def test_the_demo_prints_the_app_and_its_pictures_show_there(
    demo: tuple[str, str], browser: Any
) -> None:
    from playwright.sync_api import expect

    url, key = demo
    page = browser.new_page()
    try:
        page.goto(url)
        page.get_by_label("API key").fill(key)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#count")).to_have_text("14 images")
        first = page.get_by_role("list", name="Results").get_by_role("img").first
        expect(first).to_have_attribute("alt", "a yellow tower on a light grey background")
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=first.element_handle()
        )
    finally:
        page.close()
