"""Faces, `p~` person search and named people (`/celebs`, `p=`) with the real models
(BlazeFace and dlib's descriptor), on real photographs served over loopback, on both
engines. One gallery per engine is ingested once; tests that write use their own
organisation, so the gallery's answers stay known."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pixsearch.app import create_app
from pixsearch.config import Settings
from pixsearch.db.engine import writer
from pixsearch.operations.reembed import enqueue_reembed
from tests.conftest import Api, add_key, make_settings
from tests.imageserver import ImageServer, make_jpeg
from tests.people import photos

ASTRONAUT = ("astro", "astro-flipped", "astro-dark", "astro-small", "astro-crop")


@pytest.fixture(scope="module")
def people_settings(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(
        tmp_path_factory.mktemp("people"), database_url=module_database_url, face_detector="auto"
    )


@pytest.fixture(scope="module")
def people_client(people_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(people_settings)) as client:
        yield client


def serve_gallery(server: ImageServer) -> dict[str, str]:
    """Put the gallery's photos on the image server; their URLs by image id."""
    copies = photos.astronaut_copies()
    strangers = photos.lfw_faces()
    pictures = {
        "astro": copies["original"],
        "astro-flipped": copies["flipped"],
        "astro-dark": copies["darkened-50"],
        "astro-small": copies["scaled-60"],
        "astro-crop": copies["cropped-face"],
        "camera": photos.camera(),
        "group-with": photos.group([strangers[0], copies["original"], strangers[1]]),
        "group-without": photos.group([strangers[0], strangers[2], strangers[1]]),
    }
    urls = {}
    for image_id, picture in pictures.items():
        path = f"/people/{image_id}.jpg"
        server.add(path, photos.jpeg(picture))
        urls[image_id] = server.url(path)
    server.add("/people/blocks.jpg", make_jpeg(300, 200, 5))
    urls["blocks"] = server.url("/people/blocks.jpg")
    return urls


@pytest.fixture(scope="module")
def served(image_server: ImageServer) -> dict[str, str]:
    return serve_gallery(image_server)


@pytest.fixture(scope="module")
def gallery(people_client: TestClient, people_settings: Settings, served: dict[str, str]) -> Api:
    api = Api(people_client, add_key(people_settings, "acme"))
    urls = served
    body = [
        {"id": image_id, "src": url, "keywords": ["group"] if "group" in image_id else ["solo"]}
        for image_id, url in urls.items()
    ]
    op = api.post("/imgs?wait=true", json=body).json()
    assert op["all_good"] is True, op
    return api


def org_api(client: TestClient, settings: Settings, name: str) -> Api:
    return Api(client, add_key(settings, name))


def hits(api: Api, q: str, **params: Any) -> list[str]:
    answer = api.get("/imgs", params={"q": q, "limit": 100, **params})
    assert answer.status_code == 200, answer.text
    return [result["image_id"] for result in answer.json()["results"]]


def error_of(api: Api, q: str) -> str:
    answer = api.get("/imgs", params={"q": q})
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"][0]
    assert detail["loc"] == ["query", "q"]
    return str(detail["msg"])


def test_every_image_records_its_faces_largest_first(gallery: Api) -> None:
    astro = gallery.get("/imgs/astro").json()
    assert astro["n_faces"] == 1
    (face,) = astro["faces"]
    assert face["n"] == 1 and 0.5 < face["score"] <= 1
    x, y, w, h = face["box"]
    assert abs(x - 173) < 15 and abs(y - 68) < 15 and 80 < w < 130 and 80 < h < 130
    group = gallery.get("/imgs/group-with").json()
    assert group["n_faces"] == 3 and [f["n"] for f in group["faces"]] == [1, 2, 3]
    areas = [f["box"][2] * f["box"][3] for f in group["faces"]]
    assert areas == sorted(areas, reverse=True)
    assert gallery.get("/imgs/blocks").json()["faces"] == []


def test_boxes_are_in_pixels_of_the_whole_image(gallery: Api) -> None:
    # 2x the original: the analysed picture is a smaller draft decode, the box is not.
    small = gallery.get("/imgs/astro-small").json()
    assert (small["width"], small["height"]) == (307, 307)
    x, _, w, _ = small["faces"][0]["box"]
    assert abs(x - 173 * 0.6) < 10 and abs(w - 106 * 0.6) < 10


def test_search_results_carry_faces_only_when_asked(gallery: Api) -> None:
    plain = gallery.get("/imgs", params={"q": "id=astro"}).json()["results"][0]
    assert "faces" not in plain
    asked = gallery.get("/imgs", params={"q": "id=astro", "fields": ["faces"]}).json()
    assert asked["results"][0]["faces"][0]["n"] == 1


def test_p_finds_every_copy_of_the_person_and_no_stranger(gallery: Api) -> None:
    found = hits(gallery, "p~astro_1")
    assert set(found) == {*ASTRONAUT, "group-with"}
    answer = gallery.get("/imgs", params={"q": "p~astro_1", "limit": 100}).json()
    scores = [result["score"] for result in answer["results"]]
    assert scores == sorted(scores, reverse=True)
    assert answer["results"][0]["image_id"] == "astro" and scores[0] == pytest.approx(1.0)
    assert answer["count"] == len(found)


def test_a_face_of_a_group_photo_finds_the_solo_photos(gallery: Api) -> None:
    group = gallery.get("/imgs/group-with").json()["faces"]
    (astro_n,) = [face["n"] for face in group if face["box"][0] > 360]  # the top right cell
    found = set(hits(gallery, f"p~group-with_{astro_n}"))
    assert set(ASTRONAUT) <= found and "group-without" not in found and "camera" not in found


def test_stricter_operators_keep_a_subset(gallery: Api) -> None:
    wide = set(hits(gallery, "p~astro_1"))
    middle = set(hits(gallery, "p~~astro_1"))
    strict = set(hits(gallery, "p~~~astro_1"))
    assert strict <= middle <= wide and "astro" in strict


def test_p_combines_with_filters_facets_and_sorts(gallery: Api) -> None:
    assert hits(gallery, "p~astro_1 && k=group") == ["group-with"]
    assert set(hits(gallery, "p~astro_1 && !id∩astro,astro-dark")) == {
        "astro-flipped",
        "astro-small",
        "astro-crop",
        "group-with",
    }
    assert set(hits(gallery, "p~astro_1 || id=camera")) == {*ASTRONAUT, "group-with", "camera"}
    ordered = hits(gallery, "p~astro_1", sort_by="image_id")
    assert ordered == sorted(ordered)
    answer = gallery.get(
        "/imgs", params={"q": "p~astro_1", "facets": ["keywords"], "limit": 2}
    ).json()
    assert len(answer["results"]) == 2 and answer["count"] == 6
    assert {f["value"]: f["count"] for f in answer["facets"]["keywords"]} == {"solo": 5, "group": 1}
    # Filtered results are never short: a selective filter still yields every match.
    assert set(hits(gallery, "p~astro_1 && w<400", limit=1)) <= {"astro-small", "astro-crop"}
    assert set(hits(gallery, "p~astro_1 && w<400")) == {"astro-small", "astro-crop"}


def test_p_with_another_similarity_filter_fuses_ranks(gallery: Api) -> None:
    both = gallery.get("/imgs", params={"q": "p~astro_1 && p~~astro_1"}).json()
    assert both["count"] >= 1 and all(0 < r["score"] <= 2 / 61 for r in both["results"])


@pytest.mark.parametrize(
    ("q", "says"),
    [
        ("p~nope_1", "image 'nope' does not exist"),
        ("p~astro_2", "image 'astro' has 1 face, so there is no face 2"),
        ("p~astro_0", "no face 0"),
        ("p~blocks_1", "has no faces"),
        ("t~x || p~~nope_3", "image 'nope' does not exist"),
    ],
)
def test_unknown_image_or_face_number_is_a_422_that_says_which(
    gallery: Api, q: str, says: str
) -> None:
    assert says in error_of(gallery, q)


def test_another_organisations_faces_never_match(
    gallery: Api, people_client: TestClient, people_settings: Settings, served: dict[str, str]
) -> None:
    other = org_api(people_client, people_settings, "globex-faces")
    url = served["astro"]
    assert other.post("/imgs/twin?wait=true", json={"src": url}).json()["all_good"] is True
    assert "twin" not in hits(gallery, "p~astro_1")
    assert hits(other, "p~twin_1") == ["twin"]
    # The gallery's image is as unknown to the other organisation as a missing one.
    assert error_of(other, "p~astro_1") == error_of(other, "p~nope_1").replace("nope", "astro")


def test_deleting_or_reanalysing_keeps_the_face_index_in_step(
    gallery: Api, people_client: TestClient, people_settings: Settings, served: dict[str, str]
) -> None:
    api = org_api(people_client, people_settings, "initech-faces")
    astro, camera = (served[i] for i in ("astro", "camera"))
    for image_id in ("a", "b", "c"):
        assert api.post(f"/imgs/{image_id}?wait=true", json={"src": astro}).json()["all_good"]
    assert set(hits(api, "p~a_1")) == {"a", "b", "c"}
    assert api.delete("/imgs/b?wait=true").json()["all_good"] is True
    assert api.patch("/imgs/c?wait=true", json={"src": camera}).json()["all_good"] is True
    assert hits(api, "p~a_1") == ["a"]
    assert api.patch("/imgs/c?wait=true", json={"title": "metadata only"}).json()["all_good"]
    assert set(hits(api, "p~c_1")) == {"c"}  # the camera man's face survived the patch


def test_without_face_identities_p_is_a_422_naming_the_cause(
    tmp_path: Path, database_url: str, served: dict[str, str]
) -> None:
    settings = make_settings(
        tmp_path, database_url=database_url, face_detector="auto", face_identities=False
    )
    with TestClient(create_app(settings)) as client:
        api = Api(client, add_key(settings, "acme"))
        state = client.get("/health").json()["representations"]["face_identities"]
        assert state == {"on": False, "reason": "turned off (PIXSEARCH_FACE_IDENTITIES=false)"}
        url = served["astro"]
        assert api.post("/imgs/a?wait=true", json={"src": url}).json()["all_good"] is True
        assert api.get("/imgs/a").json()["n_faces"] == 1  # faces are still counted and boxed
        msg = error_of(api, "p~a_1")
        assert "not available" in msg and "PIXSEARCH_FACE_IDENTITIES" in msg
        assert "not available" in error_of(api, "p=ada")


def test_health_reports_the_identity_model(gallery: Api) -> None:
    state = gallery.client.get("/health").json()["representations"]["face_identities"]
    assert state["on"] is True and state["model"].startswith("dlib-resnet-v1@")


# --- Named people ---------------------------------------------------------------------------


def test_register_a_person_and_find_them_by_name(
    gallery: Api, people_client: TestClient, people_settings: Settings
) -> None:
    op = gallery.post("/celebs/Eileen Collins?wait=true", json={"faces": ["astro-crop_1"]}).json()
    assert op["resource"] == "celebs" and op["method"] == "add" and op["all_good"] is True
    assert set(hits(gallery, "p=eileen collins")) == {*ASTRONAUT, "group-with"}
    assert set(hits(gallery, "p=EILEEN  COLLINS~~~")) <= set(hits(gallery, "p=Eileen Collins~"))
    assert hits(gallery, "p=Eileen Collins && k=group") == ["group-with"]
    assert hits(gallery, "p=nobody") == []
    listed = gallery.get("/celebs").json()
    assert [(c["name"], c["faces"]) for c in listed] == [("Eileen Collins", ["astro-crop_1"])]
    assert gallery.get("/celebs/eileen collins").json()["faces"] == ["astro-crop_1"]
    assert gallery.get("/celebs/nobody").status_code == 404
    ops = gallery.get("/ops").json()
    assert ops[0]["resource"] == "celebs" and ops[0]["op_id"] == op["op_id"]
    # Another organisation sees no such person, and its p= matches nothing.
    other = org_api(people_client, people_settings, "umbrella-faces")
    assert other.get("/celebs").json() == [] and hits(other, "p=eileen collins") == []
    assert other.get("/celebs/Eileen Collins").status_code == 404


def test_names_ignore_case_and_accents(
    people_client: TestClient, people_settings: Settings, served: dict[str, str]
) -> None:
    api = org_api(people_client, people_settings, "hooli-faces")
    url = served["astro"]
    assert api.post("/imgs/a?wait=true", json={"src": url}).json()["all_good"]
    assert api.post("/celebs/Zoë Ångström?wait=true", json={"faces": ["a_1"]}).json()["all_good"]
    assert hits(api, "p=zoe angstrom") == ["a"]
    assert hits(api, 'p="ZOË ÅNGSTRÖM~"') == ["a"]


def test_celebs_writes_are_operations_with_strict_and_replace(
    people_client: TestClient, people_settings: Settings, served: dict[str, str]
) -> None:
    api = org_api(people_client, people_settings, "stark-faces")
    for image_id in ("astro", "camera"):
        url = served[image_id]
        assert api.post(f"/imgs/{image_id}?wait=true", json={"src": url}).json()["all_good"]
    assert api.post("/celebs/X?wait=true", json={"faces": ["astro_1"]}).json()["all_good"]
    again = api.post("/celebs/x?wait=true&strict=true", json={"faces": ["camera_1"]}).json()
    assert again["all_good"] is False and "already exists" in again["errors"][0]["msg"]
    extended = api.post("/celebs/x?wait=true", json={"faces": ["camera_1", "astro_1"]}).json()
    assert extended["all_good"] is True
    assert api.get("/celebs/X").json()["faces"] == ["astro_1", "camera_1"]
    assert set(hits(api, "p=x")) == {"astro", "camera"}
    replaced = api.put("/celebs/X?wait=true", json={"faces": ["camera_1"]}).json()
    assert replaced["method"] == "upd" and replaced["all_good"] is True
    assert hits(api, "p=x") == ["camera"]
    missing = api.put("/celebs/nobody?wait=true&strict=true", json={"faces": ["astro_1"]}).json()
    assert missing["all_good"] is False and "does not exist" in missing["errors"][0]["msg"]
    assert api.put("/celebs/nobody?wait=true", json={"faces": ["astro_1"]}).json()["all_good"]
    assert api.get("/celebs/nobody").status_code == 404  # non-strict upd of a missing one skips
    bad = api.post("/celebs/Y?wait=true", json={"faces": ["astro_1", "astro_7"]}).json()
    assert bad["all_good"] is False and bad["errors"] == [
        {"id": "Y", "msg": "face 'astro_7': image 'astro' has 1 face(s), no face 7"}
    ]
    assert api.get("/celebs/Y").status_code == 404  # all or nothing
    deleted = api.delete("/celebs/x?wait=true").json()
    assert deleted["method"] == "del" and deleted["all_good"] is True
    assert api.get("/celebs").json() == [] and hits(api, "p=x") == []
    gone = api.delete("/celebs/x?wait=true&strict=true").json()
    assert gone["all_good"] is False


def test_a_person_outlives_the_example_image(
    people_client: TestClient, people_settings: Settings, served: dict[str, str]
) -> None:
    api = org_api(people_client, people_settings, "wayne-faces")
    for image_id in ("a", "b"):
        url = served["astro"]
        assert api.post(f"/imgs/{image_id}?wait=true", json={"src": url}).json()["all_good"]
    assert api.post("/celebs/Ada?wait=true", json={"faces": ["a_1"]}).json()["all_good"]
    assert api.delete("/imgs/a?wait=true").json()["all_good"]
    assert hits(api, "p=ada") == ["b"]


@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        ("/celebs/Ada", {"faces": []}, ["body", "faces"]),
        ("/celebs/Ada", {"faces": ["a_1"], "extra": 1}, ["body", "extra"]),
        ("/celebs/Ada", {}, ["body", "faces"]),
        ("/celebs/%20", {"faces": ["a_1"]}, ["path", "name"]),
    ],
)
def test_bad_celebs_writes_are_422(gallery: Api, path: str, body: Any, loc: list[str]) -> None:
    answer = gallery.post(path, json=body)
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == loc


def test_reembed_computes_identities_of_images_analysed_without_them(
    tmp_path: Path, database_url: str, served: dict[str, str]
) -> None:
    off = make_settings(
        tmp_path, database_url=database_url, face_detector="auto", face_identities=False
    )
    key = add_key(off, "acme")
    url = served["astro"]
    with TestClient(create_app(off)) as client:
        api = Api(client, key)
        assert api.post("/imgs/a?wait=true", json={"src": url}).json()["all_good"] is True
        assert api.post("/imgs/b?wait=true", json={"src": url}).json()["all_good"] is True
    on = make_settings(tmp_path, database_url=database_url, face_detector="auto")
    with TestClient(create_app(on)) as client:
        api = Api(client, key)
        assert "without face identities" in error_of(api, "p~a_1")
        resources = client.app.state.resources  # type: ignore[attr-defined]
        with writer(resources.engine).begin() as conn:  # the write lock at BEGIN, as the CLI has
            name = resources.models.identities.name
            queued = enqueue_reembed(conn, resources.backend.dialect, None, None, name)
        resources.wake_workers()
        (op_id,) = queued["acme"]
        assert api.finished(op_id)["num_good"] == 2
        assert set(hits(api, "p~a_1")) == {"a", "b"}
        with writer(resources.engine).begin() as conn:  # the write lock at BEGIN, as the CLI has
            assert enqueue_reembed(conn, resources.backend.dialect, None, None, name) == {}
