"""The web app in a real Chromium against a real `pixsearch serve` with real photos.

Elements are found as a person finds them: by role and label.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.server import ServerProcess, cli
from tests.e2e.webapp import Catalogue, start_catalogue
from tests.imageserver import ImageServer, make_jpeg
from tests.people import photos

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips (or fails in CI) with the reason
    expect = None  # type: ignore[assignment]


@pytest.fixture(scope="module")
def catalogue(
    tmp_path_factory: pytest.TempPathFactory, image_server: ImageServer, browser: Any
) -> Iterator[Catalogue]:
    catalogue = start_catalogue(tmp_path_factory.mktemp("web"), image_server)
    try:
        yield catalogue
    finally:
        catalogue.server.stop()


def sign_in(page: Any, catalogue: Catalogue, path: str = "/") -> None:
    page.goto(catalogue.server.url + path)
    page.get_by_label("API key").fill(catalogue.key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()


def count_line(page: Any) -> Any:
    return page.locator("#count")


def results(page: Any) -> Any:
    return page.get_by_role("list", name="Results").get_by_role("listitem")


def test_sign_in_with_a_wrong_key_then_the_right_one(page: Any, catalogue: Catalogue) -> None:
    page.goto(catalogue.server.url)
    page.get_by_label("API key").fill("not-a-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not valid")
    page.get_by_label("API key").fill(catalogue.key)
    page.get_by_role("button", name="Sign in").click()
    expect(count_line(page)).to_have_text("30 images")
    expect(results(page)).to_have_count(24)  # the first page
    assert catalogue.key not in page.url
    assert page.evaluate("sessionStorage.getItem('pixsearch-key')") == catalogue.key
    assert page.evaluate("localStorage.length") == 0
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("API key")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0
    # Another organisation's key sees its own (empty) catalogue, nothing left from before.
    other = cli(catalogue.server.data_dir, "keys", "create", "--org", "other").split()[-1]
    page.get_by_label("API key").fill(other)
    page.get_by_role("button", name="Sign in").click()
    expect(count_line(page)).to_have_text("0 images")
    expect(page.get_by_text("No image matches.")).to_be_visible()


def test_a_search_narrows_and_a_bad_formula_shows_its_caret(
    page: Any, catalogue: Catalogue
) -> None:
    sign_in(page, catalogue)
    box = page.get_by_label("Formula")
    box.fill("k=dress")
    expect(count_line(page)).to_have_text("3 images")
    expect(results(page)).to_have_count(3)
    assert "q=k%3Ddress" in page.url
    box.fill("k=dress && && o=square")  # typed: no Enter, the debounce searches
    error = page.get_by_role("alert")
    expect(error).to_contain_text("unexpected '&&' at column 12")
    caret_line = error.inner_text().splitlines()[-1]
    assert caret_line == " " * 13 + "^"  # under the second '&&' of the formula shown above
    expect(results(page)).to_have_count(3)  # the last good results stay
    expect(box).to_have_attribute("aria-invalid", "true")
    box.fill("k=dress && o=portrait")
    expect(error).to_be_hidden()


def test_a_facet_click_adds_its_filter_and_a_second_click_removes_it(
    page: Any, catalogue: Catalogue
) -> None:
    sign_in(page, catalogue)
    keywords = page.get_by_role("complementary").get_by_role("region", name="keywords")
    shirt = keywords.get_by_role("button", name=re.compile(r"^shirt"))
    expect(shirt).to_contain_text("3")
    shirt.click()
    expect(page.get_by_label("Formula")).to_have_value("k=shirt")
    expect(count_line(page)).to_have_text("3 images")
    expect(shirt).to_have_attribute("aria-pressed", "true")
    country = page.get_by_role("region", name="country").get_by_role("button").first
    country.click()
    expect(page.get_by_label("Formula")).to_have_value(re.compile(r"^k=shirt && country="))
    expect(country).to_have_attribute("aria-pressed", "true")  # the facets of the new formula
    shirt.click()
    expect(page.get_by_label("Formula")).to_have_value(re.compile(r"^country=\w+$"))
    expect(count_line(page)).to_have_text("10 images")


def test_paging_keeps_its_place_on_back_and_forward(page: Any, catalogue: Catalogue) -> None:
    sign_in(page, catalogue)
    expect(page.get_by_text("Page 1 of 2")).to_be_visible()
    first = results(page).first.inner_text()
    page.get_by_role("button", name="Next page").click()
    expect(page.get_by_text("Page 2 of 2")).to_be_visible()
    expect(results(page)).to_have_count(6)
    assert "page=2" in page.url
    page.go_back()
    expect(page.get_by_text("Page 1 of 2")).to_be_visible()
    expect(results(page).first).to_have_text(first)
    page.go_forward()
    expect(page.get_by_text("Page 2 of 2")).to_be_visible()
    page.get_by_label("Per page").select_option("48")
    expect(results(page)).to_have_count(30)
    page.reload()  # the URL alone restores the search
    expect(page.get_by_label("Per page")).to_have_value("48")
    expect(results(page)).to_have_count(30)


def test_open_an_image_and_search_similar_ones(page: Any, catalogue: Catalogue) -> None:
    sign_in(page, catalogue, "/?q=k%3Dhat")
    page.get_by_role("link", name=re.compile("Hat 1")).first.click()
    detail = page.get_by_role("dialog", name=re.compile("^Hat"))
    expect(detail).to_be_visible()
    assert "image=hat-" in page.url
    expect(detail.get_by_role("img")).to_have_attribute("alt", "a photo of a hat")
    expect(detail.get_by_text("orientation")).to_be_visible()
    person = detail.get_by_role("button", name="Same person")
    expect(person).to_be_disabled()
    expect(person).to_have_accessible_description(re.compile("Needs face identities"))
    image_id = page.url.split("image=")[1]
    detail.get_by_role("button", name="Similar images").click()
    expect(detail).to_be_hidden()
    expect(page.get_by_label("Formula")).to_have_value(f"i~{image_id}")
    expect(count_line(page)).to_have_text("30 images")  # the tiny model's `~` keeps all
    expect(results(page).first).to_contain_text("score 1.000")  # the image itself first
    page.go_back()
    expect(page.get_by_role("dialog")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()


def test_same_person_searches_each_face_of_the_picture(
    page: Any, tmp_path: Path, image_server: ImageServer
) -> None:
    """With face identities on, the detail offers one "Same person" search per face; a
    picture without a face says so."""
    copies = photos.astronaut_copies()
    strangers = photos.lfw_faces()
    pictures = {
        "astro": copies["original"],
        "astro-flipped": copies["flipped"],
        "group": photos.group([strangers[0], copies["original"], strangers[1]]),
    }
    for image_id, picture in pictures.items():
        image_server.add(f"/person/{image_id}.jpg", photos.jpeg(picture))
    image_server.add("/person/blocks.jpg", make_jpeg(300, 200, 5))  # no face
    key = cli(tmp_path, "keys", "create", "--org", "people").split()[-1]
    server = ServerProcess(
        tmp_path, PIXSEARCH_FACE_DETECTOR="blazeface", PIXSEARCH_FACE_PROCESSES="1"
    ).start(timeout_s=90)
    try:
        body = [
            {"id": image_id, "src": image_server.url(f"/person/{image_id}.jpg")}
            for image_id in (*pictures, "blocks")
        ]
        answer = httpx.post(
            server.url + "/imgs",
            params={"wait": "true"},
            json=body,
            headers={"API-Key": key},
            timeout=180,
        )
        assert answer.status_code == 200 and answer.json()["all_good"], answer.text
        page.goto(server.url + "/?image=blocks")
        page.get_by_label("API key").fill(key)
        page.get_by_role("button", name="Sign in").click()
        detail = page.get_by_role("dialog")
        person = detail.get_by_role("button", name="Same person")
        expect(person).to_be_disabled()
        expect(person).to_have_accessible_description("No face was found in this picture")
        page.goto(server.url + "/?image=group")
        faces = detail.get_by_role("button", name=re.compile(r"^Same person \(face \d\)$"))
        expect(faces).to_have_count(3)
        page.goto(server.url + "/?image=astro")
        detail.get_by_role("button", name="Same person").click()
        expect(page.get_by_label("Formula")).to_have_value("p~astro_1")
        found = results(page)
        expect(found).to_have_count(3)  # astro, astro-flipped and her face in the group
        expect(found.first).to_contain_text("score 1.000")  # the face itself first
    finally:
        server.stop()


def test_add_images_by_url_and_follow_the_operation(page: Any, catalogue: Catalogue) -> None:
    spare = catalogue.spare[:2]
    sign_in(page, catalogue)
    page.get_by_role("link", name="Add images").click()
    lines = f'{spare[0].url}\n{{"id": "json-line", "src": "{spare[1].url}", "title": "From JSON"}}'
    page.get_by_label("Image URLs or JSON lines").fill(lines)
    page.get_by_label("Subset").check()
    page.get_by_role("button", name="Add images").click()
    # the form's own result; the page's live region (#announce) says "Operation ..." too
    status = page.get_by_role("region", name="Add images").get_by_role("status")
    expect(status).to_contain_text(re.compile(r"done — 2 good, 0 failed, of 2"), timeout=30_000)
    page.get_by_role("link", name="Search").click()
    page.get_by_label("Formula").fill("title=From JSON")
    expect(count_line(page)).to_have_text("1 image")
    for image_id in (spare[0].image_id, "json-line"):
        catalogue.api("DELETE", f"/imgs/{image_id}", params={"wait": "true"})


def test_a_bad_url_is_reported_per_item(page: Any, catalogue: Catalogue) -> None:
    sign_in(page, catalogue, "/?view=add")
    missing = catalogue.server.url.replace(str(catalogue.server.port), "9") + "/nothing.jpg"
    page.get_by_label("Image URLs or JSON lines").fill(missing)
    page.get_by_label("Wait").check()
    page.get_by_role("button", name="Add images").click()
    # the form's own result; the page's live region (#announce) says "Operation ..." too
    status = page.get_by_role("region", name="Add images").get_by_role("status")
    expect(status).to_contain_text("failed", timeout=30_000)
    expect(status.get_by_role("listitem")).to_contain_text("nothing:")


def test_cancel_a_queued_operation(
    page: Any, catalogue: Catalogue, image_server: ImageServer
) -> None:
    slow = [{"id": f"slow-{n}", "src": image_server.url(f"/slow?delay=3&n={n}")} for n in range(2)]
    running = catalogue.api("POST", "/imgs", json=slow).json()["operation_id"]
    queued = catalogue.api("POST", "/imgs/queued-1", json={"src": slow[0]["src"]}).json()
    sign_in(page, catalogue, "/?view=ops")
    table = page.get_by_role("table")
    expect(table.get_by_role("row", name=re.compile(f"^{running} "))).to_be_visible()
    page.get_by_role("button", name=f"Cancel operation {queued['operation_id']}").click()
    row = table.get_by_role("row", name=re.compile(f"^{queued['operation_id']} "))
    expect(row).to_contain_text("cancelled")
    # It refreshes by itself while one is unfinished: the slow one turns done.
    expect(table.get_by_role("row", name=re.compile(f"^{running} "))).to_contain_text(
        "done", timeout=30_000
    )
    page.get_by_label("Method").select_option("del")
    expect(table.get_by_role("row", name=re.compile(f"^{running} "))).to_have_count(0)
    catalogue.api("DELETE", "/imgs", json=[{"id": item["id"]} for item in slow])


def test_edit_and_delete_an_image(page: Any, catalogue: Catalogue) -> None:
    photo = catalogue.spare[2]
    catalogue.api("POST", f"/imgs/{photo.image_id}", params={"wait": "true"}, json=photo.body())
    sign_in(page, catalogue, f"/?image={photo.image_id}")
    detail = page.get_by_role("dialog")
    detail.get_by_label("title").fill("Renamed <b>bold</b>")
    detail.get_by_label("keywords").fill("renamed, edited")
    detail.get_by_role("button", name="Save changes").click()
    expect(detail.get_by_role("heading", level=2)).to_have_text("Renamed <b>bold</b>")
    expect(detail.get_by_role("status")).to_have_text("Saved.")
    assert catalogue.api("GET", f"/imgs/{photo.image_id}").json()["keywords"] == [
        "renamed",
        "edited",
    ]
    page.once("dialog", lambda confirm: confirm.dismiss())
    detail.get_by_role("button", name="Delete image").click()
    assert catalogue.api("GET", f"/imgs/{photo.image_id}").status_code == 200
    page.once("dialog", lambda confirm: confirm.accept())
    detail.get_by_role("button", name="Delete image").click()
    expect(page.get_by_role("dialog")).to_be_hidden()
    assert catalogue.api("GET", f"/imgs/{photo.image_id}").status_code == 404
    assert "image=" not in page.url


def test_the_status_panel_says_which_representations_are_on(
    page: Any, catalogue: Catalogue
) -> None:
    sign_in(page, catalogue)
    page.get_by_role("link", name="Status").click()
    table = page.get_by_role("table", name="Representations")
    expect(table.get_by_role("row", name=re.compile("^Image embeddings"))).to_contain_text("on")
    expect(table.get_by_role("row", name=re.compile("^Image embeddings"))).to_contain_text(
        "tiny-clip"
    )
    caption = table.get_by_role("row", name=re.compile("^Caption embeddings"))
    expect(caption).to_contain_text("off")
    expect(page.get_by_text("Version")).to_be_visible()


def test_a_broken_image_shows_a_placeholder(page: Any, catalogue: Catalogue) -> None:
    body = {"src": catalogue.photos[0].url, "url_img_thumbnail": "http://127.0.0.1:9/x.jpg"}
    catalogue.api("POST", "/imgs/broken", params={"wait": "true"}, json={**body, "title": "Broken"})
    sign_in(page, catalogue, "/?q=id%3Dbroken")
    card = page.get_by_role("link", name=re.compile("Broken"))
    expect(card.get_by_role("img", name=re.compile("image not available"))).to_have_text("No image")
    catalogue.api("DELETE", "/imgs/broken", params={"wait": "true"})


def test_on_a_phone_sized_screen_nothing_overflows(browser: Any, catalogue: Catalogue) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 700}, is_mobile=True)
    page = context.new_page()
    try:
        sign_in(page, catalogue)
        expect(results(page)).to_have_count(24)
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        page.reload()
        expect(results(page)).to_have_count(24)
        page.keyboard.press("Tab")  # the skip link comes first
        expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    finally:
        context.close()


def test_the_app_and_the_api_pages_ask_nothing_of_other_hosts(
    page: Any, catalogue: Catalogue
) -> None:
    service = urlsplit(catalogue.server.url).netloc

    def host(url: str) -> str:  # blob: URLs (ReDoc's search worker) are the page's own
        return urlsplit(url.removeprefix("blob:")).netloc

    image_hosts = {urlsplit(p.url).netloc for p in catalogue.photos}
    asked: list[tuple[str, str]] = []
    blocked: list[str] = []  # stopped by the page's Content-Security-Policy: never sent
    page.on("request", lambda r: asked.append((r.resource_type, r.url)))
    page.on("requestfailed", lambda r: r.failure == "csp" and blocked.append(r.url))
    sign_in(page, catalogue)
    expect(results(page)).to_have_count(24)
    results(page).first.get_by_role("link").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    # Only the images themselves come from elsewhere: they are the users' URLs.
    foreign = [(kind, url) for kind, url in asked if host(url) != service]
    assert foreign and all(kind == "image" and host(u) in image_hosts for kind, u in foreign)
    assert page.console_errors == []  # no CSP violation, no failed script
    for path in ("/docs", "/redoc"):
        asked.clear()
        page.goto(catalogue.server.url + path)
        title = page.get_by_role("heading", name=re.compile(r"^pixsearch"), level=1)
        expect(title.first).to_be_visible(timeout=30_000)
        page.wait_for_timeout(500)
        assert [url for _, url in asked if host(url) != service and url not in blocked] == []
    # ReDoc's sidebar shows Redocly's logo from their CDN; the CSP stops it, and that is
    # the only error either page reports.
    assert blocked == ["https://cdn.redoc.ly/redoc/logo-mini.svg"]
    assert len(page.console_errors) == 1 and "logo-mini.svg" in page.console_errors[0]


def test_authorize_in_swagger_ui_makes_try_it_out_work(page: Any, catalogue: Catalogue) -> None:
    page.goto(catalogue.server.url + "/docs")
    page.get_by_role("button", name="Authorize").click()
    page.get_by_label("Value").fill(catalogue.key)
    modal = page.locator(".dialog-ux")
    modal.get_by_role("button", name="Apply credentials").click()
    expect(modal.get_by_role("button", name="Remove authorization")).to_be_visible()
    modal.get_by_role("button", name="Close").click()
    page.get_by_role("button", name=re.compile(r"^GET \/ops List operations")).click()
    page.get_by_role("button", name="Try it out").click()
    page.get_by_role("button", name="Execute").click()
    live = page.locator(".live-responses-table tbody .response-col_status")
    expect(live).to_have_text("200")


def test_the_key_is_never_logged(page: Any, catalogue: Catalogue) -> None:
    sign_in(page, catalogue)
    expect(results(page)).to_have_count(24)
    log: Path = catalogue.server.log
    assert catalogue.key not in log.read_text()


def test_a_facet_value_with_quotes_commas_and_ampersands_filters_exactly(
    page: Any, catalogue: Catalogue
) -> None:
    odd = 'Tom "T" && Jerry, Inc. (1940)'
    body = {"src": catalogue.photos[0].url, "title": "Odd", "keywords": [odd]}
    catalogue.api("POST", "/imgs/odd", params={"wait": "true"}, json=body)
    try:
        sign_in(page, catalogue, "/?q=title%3DOdd")  # its keyword is not in the top 8
        keywords = page.get_by_role("region", name="keywords")
        keywords.get_by_role("button", name=re.compile("^Tom")).click()
        expected = 'title=Odd && k="Tom \\"T\\" && Jerry, Inc. (1940)"'
        expect(page.get_by_label("Formula")).to_have_value(expected)
        expect(count_line(page)).to_have_text("1 image")
        expect(results(page)).to_have_text([re.compile("Odd")])
        helpers = page.evaluate(
            """async () => {
              const f = await import("/app/formula.js");
              const wrapped = f.toggleFilter("k=a || k=b", "o=square");
              return [wrapped, f.toggleFilter(wrapped, "o=square"), f.quote("São Paulo")];
            }"""
        )
        assert helpers == ["(k=a || k=b) && o=square", "(k=a || k=b)", "São Paulo"]
    finally:
        catalogue.api("DELETE", "/imgs/odd", params={"wait": "true"})
