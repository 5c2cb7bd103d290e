"""AI representations through the whole pipeline, with tiny models in the production layout."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from pixsearch.app import create_app
from pixsearch.config import Settings
from pixsearch.db.dialect import dialect_of
from pixsearch.db.engine import create_db_engine
from pixsearch.db.tables import embeddings, images
from pixsearch.operations.reembed import enqueue_reembed
from tests.conftest import Api, add_key, make_settings
from tests.imageserver import ImageServer
from tests.runtimes.tinymodels import build_tiny_clip, build_tiny_text


@pytest.fixture
def model_settings(tmp_path: Path, database_url: str) -> Settings:
    clip = build_tiny_clip(tmp_path / "clip")
    text = build_tiny_text(tmp_path / "text")
    return make_settings(
        tmp_path, database_url=database_url, clip_model=str(clip), text_model=str(text)
    )


@pytest.fixture
def model_api(model_settings: Settings) -> Iterator[Api]:
    with TestClient(create_app(model_settings)) as client:
        yield Api(client, add_key(model_settings, "acme"))


def vectors(settings: Settings, image_id: str) -> dict[str, tuple[str, np.ndarray]]:
    engine = create_db_engine(settings.resolved_database_url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(embeddings.c.kind, embeddings.c.model, embeddings.c.vector)
            .join(images, images.c.id == embeddings.c.image_pk)
            .where(images.c.image_id == image_id)
        ).all()
    engine.dispose()
    return {kind: (model, np.frombuffer(vector, dtype=np.float32)) for kind, model, vector in rows}


def test_health_says_which_representations_are_on(model_api: Api, api: Api) -> None:
    on = model_api.client.get("/health").json()["representations"]
    assert on["clip_embedding"]["on"] and on["caption_embedding"]["on"]
    off = api.client.get("/health").json()["representations"]
    assert not off["clip_embedding"]["on"] and "not configured" in off["clip_embedding"]["reason"]


def test_missing_model_directory_is_named(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url=database_url, clip_model="acme/no-such-model")
    with TestClient(create_app(settings)) as client:
        state = client.get("/health").json()["representations"]["clip_embedding"]
    assert not state["on"] and "models pull" in state["reason"]


def test_ingest_stores_image_and_caption_embeddings_with_model_identity(
    model_api: Api, model_settings: Settings, image_url: Callable[..., str]
) -> None:
    op = model_api.post(
        "/imgs/e?wait=true",
        json={"src": image_url(70), "caption": "red dress", "keywords": ["summer"]},
    ).json()
    assert op["all_good"] is True
    stored = vectors(model_settings, "e")
    models = model_api.client.app.state.resources.models
    assert stored["clip"][0] == models.clip.name and stored["caption"][0] == models.text.name
    for _, vector in stored.values():
        assert vector.shape == (8,) and abs(float(np.linalg.norm(vector)) - 1) < 1e-5
    expected = models.text.embed_texts(["red dress. summer"])[0]
    assert np.allclose(stored["caption"][1], expected, atol=1e-5)


def test_metadata_update_re_embeds_caption_without_downloading(
    model_api: Api,
    model_settings: Settings,
    image_server: ImageServer,
    image_url: Callable[..., str],
) -> None:
    src = image_url(71)
    model_api.post("/imgs/m?wait=true", json={"src": src, "caption": "blue shirt"})
    before = vectors(model_settings, "m")
    image_server.reset_hits()
    model_api.patch("/imgs/m?wait=true", json={"caption": "green hat"})
    after = vectors(model_settings, "m")
    assert image_server.hits(src.split(str(image_server.port), 1)[1]) == 0
    assert np.array_equal(before["clip"][1], after["clip"][1])
    assert not np.allclose(before["caption"][1], after["caption"][1])
    model_api.patch("/imgs/m?wait=true", json={"caption": None})
    assert "caption" not in vectors(model_settings, "m")  # no text, no caption vector


def test_reembed_recomputes_vectors_of_another_model(
    model_api: Api, model_settings: Settings, image_url: Callable[..., str]
) -> None:
    model_api.post("/imgs/r?wait=true", json={"src": image_url(72)})
    engine = create_db_engine(model_settings.resolved_database_url)
    with engine.begin() as conn:
        conn.execute(
            sa.update(embeddings)
            .where(embeddings.c.kind == "clip")
            .values(model="old-model@0", vector=np.zeros(8, np.float32).tobytes())
        )
    models = model_api.client.app.state.resources.models
    with engine.begin() as conn:
        queued = enqueue_reembed(conn, dialect_of(conn), models.clip.name)
    engine.dispose()
    model_api.client.app.state.resources.wake_workers()
    assert len(queued["acme"]) == 1
    op = model_api.finished(queued["acme"][0])
    assert op["all_good"] is True and op["num_good"] == 1 and op["method"] == "upd"
    model, vector = vectors(model_settings, "r")["clip"]
    assert model == models.clip.name and np.linalg.norm(vector) > 0.99


def test_reembed_after_a_text_model_change_embeds_captions_without_downloading(
    model_api: Api,
    model_settings: Settings,
    image_server: ImageServer,
    image_url: Callable[..., str],
) -> None:
    src = image_url(73)
    model_api.post("/imgs/c?wait=true", json={"src": src, "title": "a red scarf"})
    model_api.post("/imgs/bare?wait=true", json={"src": image_url(74)})  # no caption text
    clip_before = vectors(model_settings, "c")["clip"]
    engine = create_db_engine(model_settings.resolved_database_url)
    with engine.begin() as conn:
        conn.execute(
            sa.update(embeddings).where(embeddings.c.kind == "caption").values(model="old-text@0")
        )
    models = model_api.client.app.state.resources.models
    image_server.reset_hits()
    with engine.begin() as conn:
        queued = enqueue_reembed(conn, dialect_of(conn), models.clip.name, models.text.name)
    engine.dispose()
    model_api.client.app.state.resources.wake_workers()
    assert len(queued["acme"]) == 1
    op = model_api.finished(queued["acme"][0])
    assert op["all_good"] is True and op["num_good"] == 1  # "bare" has nothing to embed
    assert image_server.hits(src.split(str(image_server.port), 1)[1]) == 0
    stored = vectors(model_settings, "c")
    assert stored["caption"][0] == models.text.name
    assert np.allclose(stored["caption"][1], models.text.embed_texts(["a red scarf"])[0], atol=1e-5)
    assert stored["clip"][0] == clip_before[0]
    assert np.array_equal(stored["clip"][1], clip_before[1])
    assert "caption" not in vectors(model_settings, "bare")


def test_face_counts_when_a_detector_is_installed(
    tmp_path: Path, database_url: str, image_url: Callable[..., str]
) -> None:
    settings = make_settings(tmp_path, database_url=database_url, face_detector="auto")
    with TestClient(create_app(settings)) as client:
        api = Api(client, add_key(settings, "acme"))
        if not client.get("/health").json()["representations"]["faces"]["on"]:
            pytest.skip("no face detector installed")
        api.post("/imgs/f?wait=true", json={"src": image_url(73, 200, 200)})
        assert api.get("/imgs/f").json()["n_faces"] == 0  # generated blocks have no face
