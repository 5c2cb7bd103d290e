"""`i~` and `t~` through GET /imgs with tiny real ONNX models: exact filtered rankings against
brute force over the stored vectors, fusion, thresholds, and the index following writes."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from pixsearch.app import create_app
from pixsearch.config import Settings
from pixsearch.db.engine import create_db_engine
from pixsearch.db.tables import embeddings, images
from pixsearch.runtimes.clip import ClipModel
from pixsearch.runtimes.text import TextModel
from pixsearch.search.fusion import RRF_K
from tests.conftest import Api, add_key, make_settings
from tests.imageserver import ImageServer, make_jpeg
from tests.runtimes.tinymodels import build_tiny_clip, build_tiny_text

TITLES = [
    "red dress",
    "blue shirt",
    "black shoes",
    "white hat",
    "green pants",
    "yellow skirt",
    "pink hoodie",
    "brown shorts",
    "grey polo",
    "a dog on the beach",
    "a cat in the snow",
    "red car in the city",
]
GALLERY = {
    f"img{seed}": {
        "seed": seed,
        "title": TITLES[seed % len(TITLES)],
        "keywords": ["even" if seed % 2 == 0 else "odd"],
        "width": 64 if seed % 3 else 80,
    }
    for seed in range(10, 34)
}


# Thresholds that split this gallery (random tiny weights make their own score ranges):
# `~` keeps everything, so `i~` is a full exact ranking.
CLIP_THRESHOLDS = {"~": -1.0, "~~": 0.1, "~~~": 0.4}
IMAGE_THRESHOLDS = {"~": -1.0, "~~": 0.3, "~~~": 0.9}
TEXT_THRESHOLDS = {"~": 0.0, "~~": 0.9, "~~~": 0.97}


def set_thresholds(path: Path, **thresholds: dict[str, float]) -> Path:
    config = json.loads((path / "config.json").read_text())
    config.update(thresholds)
    (path / "config.json").write_text(json.dumps(config))
    return path


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("models")
    clip = build_tiny_clip(root / "clip")
    set_thresholds(clip, thresholds=CLIP_THRESHOLDS, image_thresholds=IMAGE_THRESHOLDS)
    return clip, set_thresholds(build_tiny_text(root / "text"), thresholds=TEXT_THRESHOLDS)


@pytest.fixture
def settings(tmp_path: Path, model_dirs: tuple[Path, Path], database_url: str) -> Settings:
    clip, text = model_dirs
    return make_settings(
        tmp_path, clip_model=str(clip), text_model=str(text), database_url=database_url
    )


def add(
    api: Api, server: ImageServer, image_id: str, seed: int, width: int = 64, **fields: Any
) -> None:
    path = f"/img/seed{seed}-{width}x48.jpg"
    server.add(path, make_jpeg(width, 48, seed))
    op = api.post("/imgs?wait=true", json=[{"id": image_id, "src": server.url(path), **fields}])
    assert op.json()["all_good"] is True, op.text


def add_gallery(api: Api, server: ImageServer) -> Api:
    for image_id, spec in GALLERY.items():
        fields = {k: v for k, v in spec.items() if k not in ("seed", "width")}
        add(api, server, image_id, spec["seed"], spec["width"], **fields)
    add(api, server, "twin", 10, 64, title="the same picture as img10")
    return api


@pytest.fixture
def gallery(api: Api, image_server: ImageServer) -> Api:
    return add_gallery(api, image_server)


@pytest.fixture(scope="module")
def shown(
    tmp_path_factory: pytest.TempPathFactory,
    image_server: ImageServer,
    model_dirs: tuple[Path, Path],
    module_database_url: str,
) -> Iterator[tuple[Api, Settings]]:
    """One gallery shared by the tests that only read."""
    clip, text = model_dirs
    settings = make_settings(
        tmp_path_factory.mktemp("similar"),
        clip_model=str(clip),
        text_model=str(text),
        database_url=module_database_url,
    )
    with TestClient(create_app(settings)) as client:
        yield add_gallery(Api(client, add_key(settings, "acme")), image_server), settings


def stored_vectors(settings: Settings, kind: str = "clip") -> dict[str, np.ndarray]:
    """image_id -> stored vector of `kind`, oldest image first, read from the database."""
    engine = create_db_engine(settings.resolved_database_url)
    statement = (
        sa.select(images.c.image_id, embeddings.c.vector)
        .join(embeddings, embeddings.c.image_pk == images.c.id)
        .order_by(images.c.id)
    )
    with engine.connect() as conn:
        rows = conn.execute(statement.where(embeddings.c.kind == kind)).all()
    engine.dispose()
    return {image_id: np.frombuffer(blob, dtype=np.float32) for image_id, blob in rows}


def search(api: Api, q: str, **params: Any) -> dict[str, Any]:
    answer = api.get("/imgs", params={"q": q, "limit": 100, **params})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def ranked(api: Api, q: str, **params: Any) -> list[tuple[str, float]]:
    return [(r["image_id"], r["score"]) for r in search(api, q, **params)["results"]]


def brute_force(
    vectors: dict[str, np.ndarray], target: str, threshold: float, allowed: set[str]
) -> list[tuple[str, float]]:
    """Every allowed image at or above the threshold, best first, ties newest first."""
    query = vectors[target].astype(np.float64)
    scores = [
        (-float(v.astype(np.float64) @ query), -age, i)
        for age, (i, v) in enumerate(vectors.items())
        if i in allowed
    ]
    return [(i, -s) for s, _, i in sorted(scores) if -s >= threshold]


def assert_same_ranking(got: list[tuple[str, float]], expected: list[tuple[str, float]]) -> None:
    """The same images with the same scores, in an order that only swaps float32 near-ties
    (identical vectors may score a last bit apart in a matrix product)."""
    truth = dict(expected)
    assert {i for i, _ in got} == set(truth)
    assert [s for _, s in got] == pytest.approx([truth[i] for i, _ in got], abs=1e-5)
    in_order = [truth[i] for i, _ in got]
    assert all(a >= b - 1e-6 for a, b in itertools.pairwise(in_order))


FILTERS = {
    "": set(GALLERY) | {"twin"},
    "k=even": {i for i, spec in GALLERY.items() if spec["seed"] % 2 == 0},
    "k=odd": {i for i, spec in GALLERY.items() if spec["seed"] % 2},
    "w>64": {i for i, spec in GALLERY.items() if spec["width"] == 80},
    "id∩img11,img12,img13,img30": {"img11", "img12", "img13", "img30"},
    # "twin" has no keywords: it is not "even".
    "!k=even && w=64": {
        i for i, spec in GALLERY.items() if spec["seed"] % 2 and spec["width"] == 64
    }
    | {"twin"},
}


@pytest.mark.parametrize("op", ["~", "~~", "~~~"])
@pytest.mark.parametrize("formula", list(FILTERS))
def test_filtered_similarity_is_exact(
    shown: tuple[Api, Settings], model_dirs: tuple[Path, Path], formula: str, op: str
) -> None:
    api, settings = shown
    vectors = stored_vectors(settings)
    threshold = ClipModel(model_dirs[0]).image_thresholds[op]
    for target in ("img11", "img20", "img27"):
        q = f"i{op}{target}" + (f" && ({formula})" if formula else "")
        expected = brute_force(vectors, target, threshold, FILTERS[formula])
        got = ranked(api, q)
        assert_same_ranking(got, expected)
        assert search(api, q)["count"] == len(expected)


def test_the_image_itself_and_its_identical_copy_come_first(shown: tuple[Api, Settings]) -> None:
    api, _ = shown
    top = ranked(api, "i~~~img10")
    assert {image_id for image_id, _ in top[:2]} == {"img10", "twin"}
    assert [score for _, score in top[:2]] == pytest.approx([1.0, 1.0], abs=1e-5)
    assert ranked(api, "i~~~img10", sort_by="similarity", sort_order="asc")[-2:] == top[:2][::-1]


def test_unknown_ids_match_nothing(shown: tuple[Api, Settings]) -> None:
    api, _ = shown
    assert search(api, "i~nope") == {"results": [], "count": 0, "facets": {}}
    assert {i for i, _ in ranked(api, "i~nope || k=odd")} == FILTERS["k=odd"]


def leg_ranks(scores: dict[str, float], threshold: float) -> dict[str, int]:
    """1-based ranks of the images at or above the threshold: best first, ties oldest first."""
    kept = [(-score, age, i) for age, (i, score) in enumerate(scores.items()) if score >= threshold]
    return {i: rank for rank, (_, _, i) in enumerate(sorted(kept), start=1)}


def similarities(vectors: dict[str, np.ndarray], query: np.ndarray) -> dict[str, float]:
    """As the index computes them: one float32 product over the stacked vectors."""
    products = np.stack(list(vectors.values())) @ query.astype(np.float32)
    return dict(zip(vectors, products.tolist(), strict=True))


@pytest.mark.parametrize("op", ["~", "~~", "~~~"])
def test_text_is_the_rank_fusion_of_pixels_captions_and_full_text(
    shown: tuple[Api, Settings], model_dirs: tuple[Path, Path], op: str
) -> None:
    api, settings = shown
    text = "red dress"
    pixels = similarities(
        stored_vectors(settings, "clip"), ClipModel(model_dirs[0]).embed_texts([text])[0]
    )
    captions = similarities(
        stored_vectors(settings, "caption"), TextModel(model_dirs[1]).embed_texts([text])[0]
    )
    # Full text: the two "red dress" titles, then the two "red car in the city" (equal BM25
    # within each pair: older first).
    full_text = {"img12": 1, "img24": 2, "img11": 3, "img23": 4}
    legs = [leg_ranks(pixels, CLIP_THRESHOLDS[op]), leg_ranks(captions, TEXT_THRESHOLDS[op])]
    legs.append(full_text)
    expected = {
        i: sum(1 / (RRF_K + leg[i]) for leg in legs if i in leg) for leg in legs for i in leg
    }
    answer = search(api, f"t{op}{text}")
    assert answer["count"] == len(expected)
    assert {r["image_id"]: r["score"] for r in answer["results"]} == pytest.approx(expected)
    scores = [r["score"] for r in answer["results"]]
    assert scores == sorted(scores, reverse=True)


def test_stricter_text_operators_keep_fewer_images(shown: tuple[Api, Settings]) -> None:
    api, _ = shown
    counts = [search(api, f"t{op}red dress")["count"] for op in ("~", "~~", "~~~")]
    assert counts[0] > counts[1] > counts[2] >= 4  # the full-text matches always stay


def test_several_similarity_filters_add_their_rank_contributions(
    shown: tuple[Api, Settings],
) -> None:
    api, _ = shown
    both = search(api, "i~img11 || t~red dress")
    assert both["count"] >= search(api, "i~img11")["count"]
    assert all(0 < r["score"] <= 2 / (RRF_K + 1) + 1e-9 for r in both["results"])
    either = ranked(api, "(i~img10 && k=even) || (i~img11 && k=odd)")
    assert {"img10", "img11"} <= {i for i, _ in either}


def test_new_deleted_and_replaced_images_follow_at_once(
    gallery: Api, image_server: ImageServer
) -> None:
    def close(target: str) -> set[str]:
        return {image_id for image_id, _ in ranked(gallery, f"i~~~{target}")}

    assert close("img10") == {"img10", "twin"}
    gallery.delete("/imgs/twin?wait=true")
    assert close("img10") == {"img10"}
    add(gallery, image_server, "twin", 10)  # back, as a new image
    assert close("img10") == {"img10", "twin"}
    gallery.patch("/imgs/twin?wait=true", json={"title": "renamed"})  # pixels unchanged
    assert close("img10") == {"img10", "twin"}
    add(gallery, image_server, "twin", 99)  # replaced by another picture
    assert "twin" not in close("img10")
    assert close("twin") == {"twin"}


def test_another_organisation_has_its_own_vectors(
    gallery: Api, other_api: Api, image_server: ImageServer
) -> None:
    assert search(other_api, "i~img10") == {"results": [], "count": 0, "facets": {}}
    add(other_api, image_server, "theirs", 10)  # the same picture as our img10
    assert ranked(other_api, "i~~~theirs") == [("theirs", pytest.approx(1.0, abs=1e-5))]
    assert {r["image_id"] for r in search(other_api, "t~red dress")["results"]} <= {"theirs"}
    assert {i for i, _ in ranked(gallery, "i~~~img10")} == {"img10", "twin"}
