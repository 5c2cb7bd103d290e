"""The web app on a 100k-image catalogue, in a real Chromium: bytes of the first load and
time to first results, against the bare API call the page makes (the floor).

The catalogue is bench/search.py's database (metadata, set terms, full-text rows and 512-d
vectors of a tiny CLIP, written directly with SQL; built once, then reused). A real
`pixsearch serve` runs on it; Chromium (Debian's, as in the browser tests) opens the app:

    first load      a new browser context (empty cache): navigation to the first result
                    card on screen, with the key already in the tab's session; bytes are
                    the bodies of every answer from the service (page, modules, styles,
                    icon, the API's JSON); the thumbnails' example.com URLs are refused at
                    once, so that the figure is the page's and not the network's
    search          typing a formula into the box until its count is on screen
                    (includes the 300 ms debounce), once the first load's facets are in
    floor           the same GET /imgs (same parameters) with httpx; the facets come in
                    a request of their own, timed alone too

    .venv/bin/python -m bench.web [--size 100000] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import httpx

from bench.search import build_model, open_database
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.server import ServerProcess, cli

GRID = "ul[aria-label=Results] li"
FIRST_PAGE = {"limit": 24, "fields": ["image_id", "title", "alt_text", "src", "url_img_thumbnail"]}
FACETS = {
    "limit": 1,
    "fields": ["image_id"],
    "count": "false",
    "facets": [
        "keywords", "categories", "collections", "orientation", "country",
        "city", "author", "status", "ai_generated", "nsfw",
    ],
    "facet_limit": 8,
}  # fmt: skip


def start(directory: Path, size: int) -> tuple[ServerProcess, str]:
    model = build_model(directory)
    engine = open_database(directory, size, model.name)
    url = str(engine.url)
    engine.dispose()
    env = {
        "PIXSEARCH_DATABASE_URL": url,
        "PIXSEARCH_CLIP_MODEL": str(model.path),
        "PIXSEARCH_LOG_LEVEL": "warning",
    }
    data_dir = directory / "web-data"
    key = cli(data_dir, "keys", "create", "--org", "bench", **env).strip().split()[-1]
    return ServerProcess(data_dir, **env).start(timeout_s=120), key


def floor(base: str, key: str, runs: int, q: str = "", params: Any = FIRST_PAGE) -> list[float]:
    """Milliseconds of the page's GET /imgs with httpx, after one warm-up call."""
    times = []
    with httpx.Client(base_url=base, headers={"API-Key": key}, timeout=60) as client:
        client.get("/imgs", params={**params, "q": q}).raise_for_status()
        for _ in range(runs):
            started = time.perf_counter()
            client.get("/imgs", params={**params, "q": q}).raise_for_status()
            times.append((time.perf_counter() - started) * 1000)
    return times


# Timed in the page: the moment the first card enters the DOM, in ms since navigation.
FIRST_CARD = """
new MutationObserver((_, observer) => {
  if (document.querySelector("GRID")) {
    window.firstCardAt = performance.now();
    observer.disconnect();
  }
}).observe(document, { childList: true, subtree: true });
""".replace("GRID", GRID)
# From now (the formula is typed next) until the count line changes.
WATCH_COUNT = """() => {
  const count = document.getElementById("count");
  window.typedAt = performance.now();
  new MutationObserver((_, observer) => {
    window.countAt = performance.now();
    observer.disconnect();
  }).observe(count, { childList: true, characterData: true, subtree: true });
}"""


def first_load(browser: Any, base: str, key: str) -> tuple[float, int, int]:
    """(ms from navigation to the first card, bytes from the service, requests)."""
    context = browser.new_context()
    context.add_init_script(f"sessionStorage.setItem('pixsearch-key', {key!r})")
    context.route("https://example.com/**", lambda route: route.abort())
    page = context.new_page()
    sizes: list[int] = []
    page.on(
        "requestfinished",
        lambda r: r.url.startswith(base) and sizes.append(r.sizes()["responseBodySize"]),
    )
    page.add_init_script(FIRST_CARD)
    page.goto(base + "/")
    page.wait_for_selector(GRID)
    elapsed = float(page.evaluate("() => window.firstCardAt"))
    page.wait_for_load_state("networkidle")
    context.close()
    return elapsed, sum(sizes), len(sizes)


def typed_search(browser: Any, base: str, key: str, formula: str) -> float:
    context = browser.new_context()
    context.add_init_script(f"sessionStorage.setItem('pixsearch-key', {key!r})")
    context.route("https://example.com/**", lambda route: route.abort())
    page = context.new_page()
    page.goto(base + "/")
    page.wait_for_selector(GRID)
    page.wait_for_selector("#facets-title")  # the first load's facets are done
    page.evaluate(WATCH_COUNT)
    page.get_by_label("Formula").fill(formula)
    page.wait_for_function("() => window.countAt !== undefined")
    elapsed = float(page.evaluate("() => window.countAt - window.typedAt"))
    context.close()
    return elapsed


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000, help="Images in the catalogue.")
    parser.add_argument("--runs", type=int, default=5, help="Timed runs per figure.")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/pixsearch-bench"))
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    server, key = start(args.dir, args.size)
    formula = "k=sel10 && d>=2015-1-1"
    try:
        bare = statistics.median(floor(server.url, key, args.runs))
        bare_q = statistics.median(floor(server.url, key, args.runs, formula))
        facets = statistics.median(floor(server.url, key, args.runs, params=FACETS))
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            loads = [first_load(browser, server.url, key) for _ in range(args.runs)]
            typed = [typed_search(browser, server.url, key, formula) for _ in range(args.runs)]
            browser.close()
    finally:
        server.stop()
    load_ms = statistics.median(ms for ms, _, _ in loads)
    typed_ms = statistics.median(typed)
    print(f"== the web app on {args.size:,} images (median of {args.runs})")
    print(f"  floor: GET /imgs, the first page       {bare:7.0f} ms")
    print(f"  (the facets' own request, after it      {facets:7.0f} ms)")
    print(f"  first load to first results             {load_ms:7.0f} ms  ({load_ms / bare:.1f}x)")
    print(f"    bytes from the service                {loads[0][1]:7,d} in {loads[0][2]} answers")
    print(f"  floor: GET /imgs?q={formula}  {bare_q:7.0f} ms")
    print(
        f"  typed formula to its results            {typed_ms:7.0f} ms  ({typed_ms / bare_q:.1f}x)"
    )
    print("    (the typed figure includes the box's 300 ms debounce)")


if __name__ == "__main__":
    main()
