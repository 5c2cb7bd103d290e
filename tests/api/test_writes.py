"""Section 3 of the contract: add, replace, patch and delete, single and batch."""

from __future__ import annotations

from collections.abc import Callable

from tests.conftest import Api
from tests.imageserver import ImageServer


def test_add_with_wait_returns_finished_operation_and_representations(
    api: Api, image_url: Callable[..., str]
) -> None:
    response = api.post("/imgs/a1?wait=true", json={"src": image_url(1, 80, 40), "title": "T"})
    assert response.status_code == 200
    op = response.json()
    assert op["method"] == "add" and op["resource"] == "image"
    assert op["is_finished"] and op["all_good"] is True
    assert (op["num_total"], op["num_good"], op["num_bad"]) == (1, 1, 0)
    assert op["created_at"].endswith("Z") and op["finished_at"].endswith("Z")
    image = api.get("/imgs/a1").json()
    assert image["image_id"] == "a1" and image["title"] == "T"
    assert (image["width"], image["height"]) == (80, 40)
    assert image["aspect_ratio"] == 2.0 and image["orientation"] == "landscape"
    assert image["n_faces"] is None  # no face detector configured


def test_async_add_answers_202_then_finishes(api: Api, image_url: Callable[..., str]) -> None:
    response = api.post("/imgs/a2", json={"src": image_url(2)})
    assert response.status_code == 202
    body = response.json()
    assert body["n_total"] == 1 and "accepted" in body["msg"]
    op = api.finished(body["operation_id"])
    assert op["all_good"] is True and op["do_wait"] is False
    assert api.get("/imgs/a2").status_code == 200


def test_integer_ids_are_stored_as_strings_and_errors_keep_the_number(
    api: Api, image_url: Callable[..., str]
) -> None:
    response = api.post("/imgs?wait=true", json=[{"id": 7, "src": image_url(3)}])
    assert response.json()["all_good"] is True
    assert api.get("/imgs/7").json()["image_id"] == "7"
    op = api.post("/imgs?wait=true&strict=true", json=[{"id": 7, "src": image_url(3)}]).json()
    assert op["errors"] == [{"id": 7, "msg": "image already exists (strict mode)"}]


def test_put_replaces_every_field_and_patch_changes_only_given_ones(
    api: Api, image_url: Callable[..., str]
) -> None:
    src = image_url(4)
    api.post(
        "/imgs/r?wait=true", json={"src": src, "title": "a", "city": "Oslo", "keywords": ["x", "y"]}
    )
    api.patch("/imgs/r?wait=true", json={"title": "b", "city": None})
    image = api.get("/imgs/r").json()
    assert (image["title"], image["city"], image["keywords"]) == ("b", None, ["x", "y"])
    api.put("/imgs/r?wait=true", json={"src": src, "caption": "c"})
    image = api.get("/imgs/r").json()
    assert image["title"] is None and image["keywords"] is None and image["caption"] == "c"
    assert image["width"] == 64  # representations survive a metadata-only replacement


def test_same_src_never_downloads_again(
    api: Api, image_server: ImageServer, image_url: Callable[..., str]
) -> None:
    src = image_url(5)
    path = src.split(str(image_server.port), 1)[1]
    image_server.reset_hits()
    api.post("/imgs/s?wait=true", json={"src": src})
    api.put("/imgs/s?wait=true", json={"src": src, "title": "new"})
    api.post("/imgs/s?wait=true", json={"src": src, "title": "newer"})
    api.patch("/imgs/s?wait=true", json={"src": src, "caption": "x"})
    api.patch("/imgs", params={"wait": "true"}, json=[{"id": "s", "title": "batch"}])
    assert image_server.hits(path) == 1
    assert api.get("/imgs/s").json()["title"] == "batch"


def test_new_src_is_downloaded_and_analysed_again(api: Api, image_url: Callable[..., str]) -> None:
    api.post("/imgs/n?wait=true", json={"src": image_url(6, 30, 60)})
    assert api.get("/imgs/n").json()["orientation"] == "portrait"
    api.patch("/imgs/n?wait=true", json={"src": image_url(6, 50, 50)})
    image = api.get("/imgs/n").json()
    assert (image["width"], image["height"], image["orientation"]) == (50, 50, "square")


def test_strict_and_non_strict_semantics(api: Api, image_url: Callable[..., str]) -> None:
    ok = api.put("/imgs/missing?wait=true", json={"src": image_url(7)}).json()
    assert ok["all_good"] is True and ok["num_good"] == 1  # skipped, counts as good
    assert api.get("/imgs/missing").status_code == 404
    failed = api.put("/imgs/missing?wait=true&strict=true", json={"src": image_url(7)}).json()
    assert failed["all_good"] is False
    assert failed["errors"] == [{"id": "missing", "msg": "image does not exist (strict mode)"}]
    assert api.delete("/imgs/missing?wait=true").json()["all_good"] is True
    assert api.delete("/imgs/missing?wait=true&strict=true").json()["num_bad"] == 1
    api.post("/imgs/e?wait=true", json={"src": image_url(8)})
    upsert = api.post("/imgs/e?wait=true", json={"src": image_url(8), "title": "up"}).json()
    assert upsert["all_good"] is True and api.get("/imgs/e").json()["title"] == "up"


def test_all_or_nothing_applies_nothing_when_one_item_fails(
    api: Api, image_url: Callable[..., str], image_server: ImageServer
) -> None:
    batch = [
        {"id": "g1", "src": image_url(9)},
        {"id": "b1", "src": image_server.url("/status/404")},
        {"id": "g2", "src": image_url(10)},
    ]
    op = api.post("/imgs?wait=true", json=batch).json()
    assert (op["num_good"], op["num_bad"], op["all_good"]) == (0, 1, False)
    assert op["errors"][0]["id"] == "b1" and "404" in op["errors"][0]["msg"]
    assert api.get("/imgs/g1").status_code == 404 and api.get("/imgs/g2").status_code == 404


def test_subset_applies_the_good_items(
    api: Api, image_url: Callable[..., str], image_server: ImageServer
) -> None:
    batch = [
        {"id": "g1", "src": image_url(11)},
        {"id": "b1", "src": image_server.url("/text")},
        {"id": "g2", "src": image_url(12)},
    ]
    op = api.post("/imgs?wait=true&subset=true", json=batch).json()
    assert (op["num_good"], op["num_bad"], op["all_good"]) == (2, 1, False)
    assert "not an image" in op["errors"][0]["msg"]
    assert api.get("/imgs/g1").status_code == 200 and api.get("/imgs/b1").status_code == 404


def test_batch_delete_and_single_delete(api: Api, image_url: Callable[..., str]) -> None:
    api.post("/imgs?wait=true", json=[{"id": f"d{i}", "src": image_url(20 + i)} for i in range(3)])
    assert api.delete("/imgs/d0?wait=true").json()["method"] == "del"
    op = api.delete("/imgs?wait=true", json=[{"id": "d1"}, {"id": "d2"}]).json()
    assert op["num_good"] == 2
    assert all(api.get(f"/imgs/d{i}").status_code == 404 for i in range(3))


def test_get_image_projects_fields(api: Api, image_url: Callable[..., str]) -> None:
    api.post("/imgs/f?wait=true", json={"src": image_url(30), "title": "t", "date": "2005-5-13"})
    image = api.get("/imgs/f", params=[("fields", "title"), ("fields", "date")]).json()
    assert image == {"title": "t", "date": "2005-05-13"}
    bad = api.get("/imgs/f", params={"fields": "nope"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][:2] == ["query", "fields"]
