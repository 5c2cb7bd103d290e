"""Resolving the configured models: each one that is off says why."""

from __future__ import annotations

from pathlib import Path

from pixsearch.config import Settings
from pixsearch.runtimes.registry import local_dir, open_models
from tests.runtimes.tinymodels import build_tiny_clip, build_tiny_text


def test_missing_hub_model_names_the_pull_command(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, clip_model="acme/no-such-clip", text_model="", face_detector="off"
    )
    models = open_models(settings)
    assert models.clip is None and models.text is None and models.faces is None
    status = models.status()
    reason = status["clip_embedding"]["reason"]
    assert "pixsearch models pull acme/no-such-clip" in str(reason)
    assert str(tmp_path / "models" / "acme--no-such-clip") in str(reason)
    assert status["caption_embedding"]["reason"] == "not configured (empty setting)"
    assert "PIXSEARCH_FACE_DETECTOR=off" in str(status["faces"]["reason"])


def test_wrong_kind_and_missing_file_are_reasons(tmp_path: Path) -> None:
    clip = build_tiny_clip(tmp_path / "clip")
    text = build_tiny_text(tmp_path / "text")
    (text / "tokenizer.json").unlink()
    models = open_models(
        Settings(data_dir=tmp_path, clip_model=str(text), text_model=str(clip), face_detector="off")
    )
    assert models.reasons["clip"] == f"{text} holds a text model, not a clip model"
    assert models.reasons["text"] == f"{clip} holds a clip model, not a text model"
    build_tiny_text(tmp_path / "text2")
    (tmp_path / "text2" / "tokenizer.json").unlink()
    models = open_models(
        Settings(
            data_dir=tmp_path,
            clip_model="",
            face_detector="off",
            text_model=str(tmp_path / "text2"),
        )
    )
    assert models.reasons["text"] == f"{tmp_path / 'text2'} lacks tokenizer.json"


def test_present_models_are_on_and_named(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        clip_model="acme/clip",
        face_detector="off",
        text_model=str(build_tiny_text(tmp_path / "text")),
    )
    build_tiny_clip(local_dir(settings, "acme/clip"))
    models = open_models(settings)
    assert models.clip is not None and models.text is not None
    status = models.status()
    assert status["clip_embedding"] == {"on": True, "model": models.clip.name}
    assert str(status["caption_embedding"]["model"]).startswith("tiny-text@")
