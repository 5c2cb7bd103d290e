"""Out of the box: EfficientNet-Lite vectors for `i~`, tags in five languages, colours and OCR,
on real photos (../shared/data/clothing) and rendered images, through the whole service."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw, ImageFont

from pixsearch.app import create_app
from pixsearch.config import Settings
from pixsearch.db.dialect import dialect_of
from pixsearch.db.engine import create_db_engine
from pixsearch.db.tables import embeddings, images
from pixsearch.operations.reembed import enqueue_reembed
from tests.conftest import SHARED, Api, add_key, make_settings
from tests.imageserver import ImageServer, make_bomb_png

CLOTHING = SHARED / "data" / "clothing"
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")


def clothing(label: str, count: int) -> list[Path]:
    with (CLOTHING / "labels.csv").open() as file:
        rows = [row for row in csv.DictReader(file) if row["label"] == label]
    return [CLOTHING / row["path"] for row in rows[:count]]


def solid_jpeg(color: str, size: tuple[int, int] = (120, 90)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def text_png(text: str) -> bytes:
    image = Image.new("RGB", (640, 240), "white")
    draw = ImageDraw.Draw(image)
    draw.text((30, 80), text, fill="black", font=ImageFont.truetype(str(FONT), 48))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def visual_settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(
        tmp_path, database_url=database_url, classifier="efficientnet-lite3", colors="on"
    )


@pytest.fixture
def visual_api(visual_settings: Settings) -> Iterator[Api]:
    with TestClient(create_app(visual_settings)) as client:
        yield Api(client, add_key(visual_settings, "acme"))


@pytest.fixture
def served(image_server: ImageServer) -> Callable[[str, bytes], str]:
    def serve(name: str, data: bytes) -> str:
        image_server.add(f"/visual/{name}", data)
        return image_server.url(f"/visual/{name}")

    return serve


@pytest.fixture
def catalogue(visual_api: Api, served: Callable[[str, bytes], str]) -> dict[str, list[str]]:
    """Four shoes, four t-shirts and a red and a navy rendered image, ingested in English."""
    ids: dict[str, list[str]] = {"shoes": [], "t-shirt": [], "plain": ["red", "navy"]}
    body: list[dict[str, Any]] = []
    for label in ("shoes", "t-shirt"):
        for index, path in enumerate(clothing(label, 4)):
            image_id = f"{label}{index}"
            ids[label].append(image_id)
            body.append({"id": image_id, "src": served(path.name, path.read_bytes())})
    for color in ("red", "navy"):
        body.append({"id": color, "src": served(f"{color}.jpg", solid_jpeg(color))})
    op = visual_api.post("/imgs?wait=true", json=body).json()
    assert op["all_good"] is True, op
    return ids


def search(api: Api, q: str, **params: Any) -> dict[str, Any]:
    answer = api.get("/imgs", params={"q": q, "limit": 100, **params})
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def found(api: Api, q: str, **params: Any) -> list[str]:
    return [r["image_id"] for r in search(api, q, **params)["results"]]


def test_health_reports_each_generated_representation(visual_api: Api, api: Api) -> None:
    on = visual_api.client.get("/health").json()["representations"]
    assert on["image_embedding"]["model"].startswith("efficientnet-lite3@")
    assert on["tags"]["on"] and on["colors"]["on"]
    assert not on["ocr"]["on"] and "PIXSEARCH_OCR" in on["ocr"]["reason"]
    off = api.client.get("/health").json()["representations"]
    assert not off["tags"]["on"] and "PIXSEARCH_CLASSIFIER=off" in off["tags"]["reason"]
    assert not off["image_embedding"]["on"] and not off["colors"]["on"]


def test_generated_fields_are_read_only_and_returned(
    visual_api: Api, catalogue: dict[str, list[str]]
) -> None:
    shoe = visual_api.get(f"/imgs/{catalogue['shoes'][0]}").json()
    assert "footwear" in shoe["tags"] and shoe["ocr_text"] is None
    assert shoe["keywords"] is None  # never mixed into the client's keywords
    red = visual_api.get("/imgs/red", params={"fields": ["colors"]}).json()
    assert red["colors"][0]["share"] > 0.9 and red["colors"][0]["hex"].startswith("#f")
    refused = visual_api.post("/imgs/x", json={"src": "http://127.0.0.1/a.jpg", "tags": ["a"]})
    assert refused.status_code == 422


def test_image_similarity_without_clip_uses_efficientnet(
    visual_api: Api, catalogue: dict[str, list[str]]
) -> None:
    shoe = catalogue["shoes"][0]
    answer = search(visual_api, f"i~{shoe}")
    ranked = [r["image_id"] for r in answer["results"]]
    assert ranked[0] == shoe and answer["results"][0]["score"] > 0.99
    shoes = [image_id for image_id in ranked if image_id in catalogue["shoes"]]
    assert len(shoes) >= 3 and ranked[: len(shoes)] == shoes  # shoes before anything else
    assert "navy" not in ranked  # a plain colour looks like no shoe
    assert found(visual_api, "i~~~nope") == []


def tags_of(api: Api, ids: list[str]) -> dict[str, list[str]]:
    return {image_id: api.get(f"/imgs/{image_id}").json()["tags"] or [] for image_id in ids}


def with_tag(tags: dict[str, list[str]], tag: str) -> set[str]:
    return {image_id for image_id, found in tags.items() if tag in found}


def test_tag_filters_and_facet(visual_api: Api, catalogue: dict[str, list[str]]) -> None:
    tags = tags_of(visual_api, [i for ids in catalogue.values() for i in ids])
    footwear, tees = with_tag(tags, "footwear"), with_tag(tags, "t-shirt")
    # The real model on real photos: most shoes are footwear, no t-shirt is.
    assert len(footwear & set(catalogue["shoes"])) >= 3 and not footwear - set(catalogue["shoes"])
    assert len(tees & set(catalogue["t-shirt"])) >= 3 and not tees & footwear
    assert set(found(visual_api, "tag=footwear")) == footwear
    assert set(found(visual_api, "tag=footwear,t-shirt")) == set()
    assert set(found(visual_api, "tag∩footwear,t-shirt")) == footwear | tees
    assert set(found(visual_api, "tags=|footwear,t-shirt")) == footwear | tees
    assert set(found(visual_api, "tag~foot")) == footwear
    assert set(found(visual_api, "!tag=footwear")) == set(tags) - footwear
    assert found(visual_api, "tag=Footwear && tag=footwear") == found(visual_api, "tag=footwear")
    facet = search(visual_api, "", facets=["tags"])["facets"]["tags"]
    counts = {entry["value"]: entry["count"] for entry in facet}
    assert counts["footwear"] == len(footwear) and counts["t-shirt"] == len(tees)


def test_text_search_matches_tags_singular_plural_and_synonyms(
    visual_api: Api, catalogue: dict[str, list[str]]
) -> None:
    tags = tags_of(visual_api, [i for ids in catalogue.values() for i in ids])
    footwear = with_tag(tags, "footwear")
    assert set(found(visual_api, "t~shoes")) >= with_tag(tags, "shoe")
    assert set(found(visual_api, "t~footgear")) == footwear  # a WordNet synonym of footwear
    assert found(visual_api, "t~footwear")[: len(footwear)] != []
    assert set(found(visual_api, "t~t-shirts")) >= with_tag(tags, "t-shirt")


def test_tags_in_the_operations_language(
    visual_api: Api, served: Callable[[str, bytes], str]
) -> None:
    path = clothing("shoes", 1)[0]
    url = served("es-" + path.name, path.read_bytes())
    for lang, image_id in (("es", "zapato"), ("ru", "туфля")):
        op = visual_api.post(f"/imgs/{image_id}?wait=true&lang={lang}", json={"src": url})
        assert op.json()["all_good"] is True
    assert "calzado" in visual_api.get("/imgs/zapato").json()["tags"]
    assert "обувь" in visual_api.get("/imgs/туфля").json()["tags"]
    assert found(visual_api, "t~zapatos", lang="es") == ["zapato"]
    assert found(visual_api, "tag=calzado") == ["zapato"]


def test_metadata_change_keeps_generated_fields(
    visual_api: Api, catalogue: dict[str, list[str]]
) -> None:
    shoe = catalogue["shoes"][1]
    before = visual_api.get(f"/imgs/{shoe}").json()
    op = visual_api.patch(f"/imgs/{shoe}?wait=true", json={"keywords": ["sale"]}).json()
    assert op["all_good"] is True
    after = visual_api.get(f"/imgs/{shoe}").json()
    assert after["tags"] == before["tags"] and after["colors"] == before["colors"]
    assert shoe in found(visual_api, "tag=footwear && k=sale")
    assert shoe in found(visual_api, "t~shoes")


def test_colour_filters(visual_api: Api, catalogue: dict[str, list[str]]) -> None:
    assert found(visual_api, "color~red") == ["red"]
    assert found(visual_api, "colour~~~#ff0000") == ["red"]
    assert found(visual_api, "color~navy") == ["navy"]
    assert found(visual_api, "color~#000090") == ["navy"]
    assert found(visual_api, "color~~~#0000ff") == []  # navy is near, not nearly the same
    reds = found(visual_api, "color=red")  # a photo may have a red part too
    assert "red" in reds and "navy" not in reds
    assert found(visual_api, "color=crimson") == reds  # crimson is of the red family
    assert found(visual_api, "color=blue") == ["navy"]
    assert found(visual_api, "color=grey && color~~~red") == []
    for q in ("color~notacolour", "color=#12", "color<red"):
        answer = visual_api.get("/imgs", params={"q": q})
        assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["query", "q"]


def test_ocr_text_is_read_and_searched(
    tmp_path: Path, database_url: str, served: Callable[[str, bytes], str]
) -> None:
    settings = make_settings(tmp_path, database_url=database_url, ocr="on")
    with TestClient(create_app(settings)) as client:
        api = Api(client, add_key(settings, "acme"))
        url = served("sign.png", text_png("Grand Hotel Lisbon"))
        assert api.post("/imgs/sign?wait=true", json={"src": url}).json()["all_good"] is True
        plain = served("plain.jpg", solid_jpeg("white"))
        assert api.post("/imgs/plain?wait=true", json={"src": plain}).json()["all_good"] is True
        assert api.get("/imgs/sign").json()["ocr_text"] == "Grand Hotel Lisbon"
        assert api.get("/imgs/plain").json()["ocr_text"] is None
        assert found(api, "ocr~lisb") == ["sign"]
        assert found(api, "t~hotel") == ["sign"]
        assert client.get("/health").json()["representations"]["ocr"]["on"]


def test_tag_image_upload_answers_what_was_asked_and_stores_nothing(visual_api: Api) -> None:
    path = clothing("shoes", 1)[0]
    files = {"image": (path.name, path.read_bytes(), "image/jpeg")}
    answer = visual_api.post("/tag/image", files=files, data={"colors": "true", "lang": "fr"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert "chaussure" in body["keywords"] and body["lang"] == "fr"
    assert 1 <= len(body["colors"]) <= 5 and body["ocr_text"] is None
    only = visual_api.post("/tag/image", files=files, data={"keywords": "false", "colors": "1"})
    assert only.json()["keywords"] is None and only.json()["colors"]
    assert search(visual_api, "")["count"] == 0


def test_tag_image_from_src_goes_through_the_guarded_fetcher(
    visual_api: Api, served: Callable[[str, bytes], str]
) -> None:
    url = served("tag-red.jpg", solid_jpeg("red"))
    answer = visual_api.post("/tag/image", data={"src": url, "colors": "true"})
    assert answer.status_code == 200 and answer.json()["colors"][0]["share"] > 0.9
    refused = visual_api.post("/tag/image", data={"src": "http://10.1.2.3/a.jpg"})
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", "src"]
    missing = visual_api.post("/tag/image", data={"src": served("gone", b"")[:-4] + "nope"})
    assert missing.status_code == 422


@pytest.mark.parametrize(
    ("data", "files", "loc"),
    [
        ({}, None, ["body", "image"]),  # neither image nor src
        ({"caption": "true"}, "shoe", ["body", "caption"]),  # no captioning model
        ({"ocr": "true"}, "shoe", ["body", "ocr"]),  # OCR is off by default
        ({"lang": "de"}, "shoe", ["body", "lang"]),
        ({}, "text", ["body", "image"]),  # not an image
        ({}, "bomb", ["body", "image"]),  # 900 megapixels declared: refused before decoding
    ],
)
def test_tag_image_refusals_name_the_field(
    visual_api: Api, data: dict[str, str], files: str | None, loc: list[str]
) -> None:
    payload = {
        "shoe": {"image": ("a.jpg", clothing("shoes", 1)[0].read_bytes(), "image/jpeg")},
        "text": {"image": ("a.jpg", b"not an image at all", "image/jpeg")},
        "bomb": {"image": ("bomb.png", make_bomb_png(), "image/png")},
    }
    answer = visual_api.post("/tag/image", data=data, files=payload.get(files or ""))
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"] == loc


def test_tag_image_needs_a_key(visual_api: Api) -> None:
    assert visual_api.client.post("/tag/image", data={"src": "http://x/a.jpg"}).status_code == 401


def test_vectors_name_the_classifier_and_reembed_follows_a_model_change(
    visual_api: Api, visual_settings: Settings, served: Callable[[str, bytes], str]
) -> None:
    path = clothing("shoes", 1)[0]
    url = served("reembed-" + path.name, path.read_bytes())
    assert visual_api.post("/imgs/r?wait=true", json={"src": url}).json()["all_good"] is True
    models = visual_api.client.app.state.resources.models
    engine = create_db_engine(visual_settings.resolved_database_url)
    with engine.connect() as conn:
        (model,) = conn.execute(sa.select(embeddings.c.model)).scalars().all()
    assert model == models.classifier.name  # no CLIP: the classifier's vector, named
    with engine.begin() as conn:
        assert enqueue_reembed(conn, dialect_of(conn), models.image_model.name) == {}
        conn.execute(sa.update(images).values(tags=None, colors=None))  # as before issue 11
        conn.execute(sa.update(embeddings).values(model="other-model@0"))
        queued = enqueue_reembed(conn, dialect_of(conn), models.image_model.name)
    with engine.begin() as conn:
        again = enqueue_reembed(conn, dialect_of(conn), None, everything=True)
    engine.dispose()
    visual_api.client.app.state.resources.wake_workers()
    assert len(queued["acme"]) == 1 and len(again["acme"]) == 1
    for op_id in (*queued["acme"], *again["acme"]):
        assert visual_api.finished(op_id)["all_good"] is True
    image = visual_api.get("/imgs/r").json()
    assert "footwear" in image["tags"] and image["colors"]
    assert found(visual_api, "i~r") == ["r"] and found(visual_api, "tag=footwear") == ["r"]


def test_colour_closeness_ranks_with_sort_by_similarity(
    visual_api: Api, served: Callable[[str, bytes], str]
) -> None:
    body = [
        {"id": name, "src": served(f"near-{name}.jpg", solid_jpeg(color))}
        for name, color in (("exact", "#ff0000"), ("near", "#e8200c"), ("far", "#d01818"))
    ]
    body.append({"id": "blue", "src": served("near-blue.jpg", solid_jpeg("blue"))})
    assert visual_api.post("/imgs?wait=true", json=body).json()["all_good"] is True
    answer = search(visual_api, "color~red", sort_by="similarity")
    ranked = [(r["image_id"], r["score"]) for r in answer["results"]]
    assert [image_id for image_id, _ in ranked] == ["exact", "near", "far"]
    scores = [score for _, score in ranked]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0.99 and scores[-1] < 0.93
    farthest = search(visual_api, "color~red && !id=blue", sort_by="sim", sort_order="asc")
    assert [r["image_id"] for r in farthest["results"]] == ["far", "near", "exact"]
    assert "score" not in search(visual_api, "color~red")["results"][0]  # a match, no ranking
    for q in ("color=red", "!color~red", "w>1"):
        refused = visual_api.get("/imgs", params={"q": q, "sort_by": "similarity"})
        assert refused.status_code == 422 and refused.json()["detail"][0]["loc"][1] == "sort_by"


def test_generated_fields_stay_in_their_organisation(
    visual_api: Api, visual_settings: Settings, catalogue: dict[str, list[str]]
) -> None:
    other = Api(visual_api.client, add_key(visual_settings, "globex"))
    assert found(visual_api, "tag~foot") and found(visual_api, "color~red")
    for q in ("tag~foot", "color~red", "color=blue", "t~shoes", f"i~{catalogue['shoes'][0]}"):
        assert found(other, q) == []
    assert search(other, "", facets=["tags"])["facets"]["tags"] == []
    assert found(other, "color~red", sort_by="similarity") == []


def test_with_clip_the_image_embedding_is_clips_and_tags_still_come(
    tmp_path: Path, database_url: str, served: Callable[[str, bytes], str]
) -> None:
    from tests.runtimes.tinymodels import build_tiny_clip

    clip = build_tiny_clip(tmp_path / "clip")
    settings = make_settings(
        tmp_path, database_url=database_url, clip_model=str(clip), classifier="efficientnet-lite3"
    )
    path = clothing("shoes", 1)[0]
    with TestClient(create_app(settings)) as client:
        api = Api(client, add_key(settings, "acme"))
        url = served("clip-" + path.name, path.read_bytes())
        assert api.post("/imgs/c?wait=true", json={"src": url}).json()["all_good"] is True
        models = client.app.state.resources.models
        state = client.get("/health").json()["representations"]["image_embedding"]
        assert state["model"] == models.clip.name  # CLIP wins; EfficientNet only tags
        assert "footwear" in api.get("/imgs/c").json()["tags"]
        assert found(api, "i~c") == ["c"]
    engine = create_db_engine(settings.resolved_database_url)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(embeddings.c.kind, embeddings.c.model)).all()
    engine.dispose()
    assert stored == [("clip", models.clip.name)]
