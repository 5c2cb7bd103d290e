"""A real Chromium driven by Playwright, for the web app's tests.

Debian's `chromium` (`make chromium` installs it) is used, never a browser that Playwright
downloads: nothing can be downloaded here. Without it the browser tests are skipped, except
where `PIXSEARCH_TEST_REQUIRE_BROWSER` is set (CI), where that is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("PIXSEARCH_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-screenshots"


def missing_browser(reason: str) -> None:
    """Skip, or fail where the browser tests must run."""
    if os.environ.get("PIXSEARCH_TEST_REQUIRE_BROWSER"):
        pytest.fail(f"{reason} (PIXSEARCH_TEST_REQUIRE_BROWSER is set: run `make chromium`)")
    pytest.skip(reason)


def launch_chromium() -> Iterator[object]:
    """Yield a launched headless Chromium (a playwright Browser)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_browser("the playwright package is not installed")
    if not CHROMIUM.exists():
        missing_browser(f"no Chromium at {CHROMIUM}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()
