"""Hub snapshots in each upstream layout become our layout; `models pull/list` through the CLI.

The snapshots are built from the tiny models, laid out file for file as the hub
repositories are, so no test touches the network.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from pixsearch.cli import app
from pixsearch.config import Settings
from pixsearch.runtimes.base import ModelLayoutError, read_config
from pixsearch.runtimes.clip import ClipModel
from pixsearch.runtimes.hub import convert_snapshot, detect_layout, list_models, pull_model
from pixsearch.runtimes.text import TextModel
from tests.runtimes.tinymodels import CLIP_MEAN, CLIP_STD, build_tiny_clip, build_tiny_text


def open_clip_snapshot(root: Path) -> Path:
    """Laid out as immich-app/ViT-B-32__openai."""
    tiny = build_tiny_clip(root / "tiny")
    snap = root / "immich"
    (snap / "visual").mkdir(parents=True)
    (snap / "textual").mkdir()
    shutil.copy(tiny / "visual.onnx", snap / "visual" / "model.onnx")
    shutil.copy(tiny / "textual.onnx", snap / "textual" / "model.onnx")
    shutil.copy(tiny / "tokenizer.json", snap / "textual" / "tokenizer.json")
    write(snap / "textual" / "tokenizer_config.json", {"pad_token": "<|pad|>"})
    write(
        snap / "visual" / "preprocess_cfg.json",
        {
            "size": [32, 32],
            "mode": "RGB",
            "mean": CLIP_MEAN,
            "std": CLIP_STD,
            "interpolation": "bicubic",
            "resize_mode": "shortest",
            "fill_color": 0,
        },
    )
    write(
        snap / "config.json",
        {
            "embed_dim": 8,
            "vision_cfg": {"image_size": 32, "layers": 1, "width": 8},
            "text_cfg": {"context_length": 16, "vocab_size": 80},
        },
    )
    (snap / "README.md").write_text("---\ntags:\n - clip\n---\n# Model\n", encoding="utf-8")
    return snap


def transformers_clip_snapshot(root: Path) -> Path:
    """Laid out as Xenova/clip-vit-base-patch32."""
    tiny = build_tiny_clip(root / "tiny")
    snap = root / "xenova"
    (snap / "onnx").mkdir(parents=True)
    shutil.copy(tiny / "visual.onnx", snap / "onnx" / "vision_model.onnx")
    shutil.copy(tiny / "textual.onnx", snap / "onnx" / "text_model.onnx")
    shutil.copy(tiny / "tokenizer.json", snap / "tokenizer.json")
    write(snap / "tokenizer_config.json", {"pad_token": {"content": "<|pad|>"}})
    write(
        snap / "preprocessor_config.json",
        {
            "crop_size": {"height": 32, "width": 32},
            "size": {"shortest_edge": 32},
            "image_mean": [0.5, 0.5, 0.5],
            "image_std": [0.25, 0.25, 0.25],
            "resample": 2,
        },
    )
    write(
        snap / "config.json",
        {
            "projection_dim": 8,
            "text_config": {"max_position_embeddings": 16},
            "vision_config": {"image_size": 32},
        },
    )
    return snap


def sentence_snapshot(root: Path) -> Path:
    """Laid out as sentence-transformers/all-MiniLM-L6-v2."""
    tiny = build_tiny_text(root / "tiny-text")
    snap = root / "minilm"
    (snap / "onnx").mkdir(parents=True)
    shutil.copy(tiny / "model.onnx", snap / "onnx" / "model.onnx")
    shutil.copy(tiny / "tokenizer.json", snap / "tokenizer.json")
    write(snap / "config.json", {"architectures": ["BertModel"], "hidden_size": 8})
    write(snap / "sentence_bert_config.json", {"max_seq_length": 12, "do_lower_case": False})
    (snap / "README.md").write_text("---\nlicense: apache-2.0\n---\n# MiniLM\n", encoding="utf-8")
    return snap


def write(path: Path, value: object) -> None:
    path.write_text(json.dumps(value), encoding="utf-8")


def test_open_clip_export_converts_and_embeds_like_the_original(tmp_path: Path) -> None:
    snap = open_clip_snapshot(tmp_path)
    assert detect_layout(snap) == "open_clip"
    model = ClipModel(convert_snapshot(snap, tmp_path / "out", "immich-app/ViT-B-32__openai"))
    config = read_config(model.path)
    assert config["kind"] == "clip" and config["embed_dim"] == 8 and config["image_size"] == 32
    assert config["context_length"] == 16 and config["pad_token"] == "<|pad|>"
    assert config["license"] == "MIT"  # the card has none: the known license of the weights
    original = ClipModel(tmp_path / "tiny")
    image = Image.new("RGB", (50, 40), (200, 30, 90))
    np.testing.assert_allclose(
        model.embed_images([image]), original.embed_images([image]), atol=1e-6
    )
    texts = ["a dog on the beach", "red car"]
    np.testing.assert_allclose(model.embed_texts(texts), original.embed_texts(texts), atol=1e-6)


def test_transformers_clip_export_reads_processor_config(tmp_path: Path) -> None:
    snap = transformers_clip_snapshot(tmp_path)
    assert detect_layout(snap) == "transformers_clip"
    model = ClipModel(convert_snapshot(snap, tmp_path / "out", "Xenova/clip-vit-base-patch32"))
    pre = model.clip.preprocess
    assert (pre.image_size, pre.mean, pre.std) == (32, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    assert pre.interpolation == "bilinear"  # PIL code 2
    assert model.clip.context_length == 16 and model.clip.pad_token == "<|pad|>"
    assert model.embed_texts(["a cat"]).shape == (1, 8)


def test_sentence_transformers_repo_converts_with_its_length_and_license(tmp_path: Path) -> None:
    snap = sentence_snapshot(tmp_path)
    assert detect_layout(snap) == "sentence_transformers"
    model = TextModel(convert_snapshot(snap, tmp_path / "out", "acme/minilm"))
    assert (model.dim, model.max_length) == (8, 12)
    assert read_config(model.path)["license"] == "apache-2.0"
    original = TextModel(tmp_path / "tiny-text")
    texts = ["a dog", "the red car"]
    np.testing.assert_allclose(model.embed_texts(texts), original.embed_texts(texts), atol=1e-6)


def test_weights_are_linked_not_copied(tmp_path: Path) -> None:
    snap = sentence_snapshot(tmp_path)
    out = convert_snapshot(snap, tmp_path / "out", "acme/minilm")
    assert (out / "model.onnx").stat().st_ino == (snap / "onnx" / "model.onnx").stat().st_ino


def test_unknown_layout_lists_what_it_found(tmp_path: Path) -> None:
    (tmp_path / "weird").mkdir()
    (tmp_path / "weird" / "pytorch_model.bin").write_bytes(b"x")
    with pytest.raises(ModelLayoutError, match=r"no known layout.*pytorch_model\.bin"):
        detect_layout(tmp_path / "weird")


def test_text_model_reads_a_hugging_face_directory(tmp_path: Path) -> None:
    """model.onnx + tokenizer.json + an upstream config.json (hidden_size, no dim, no length)."""
    path = build_tiny_text(tmp_path / "hf", max_length=32)
    write(path / "config.json", {"architectures": ["BertModel"], "hidden_size": 8})
    assert TextModel(path).max_length == 256
    write(path / "sentence_bert_config.json", {"max_seq_length": 7})
    model = TextModel(path)
    assert (model.dim, model.max_length) == (8, 7)
    model.load()
    assert len(model.tokenizer.encode(" ".join(["dog"] * 20)).ids) == 7


def settings_env(monkeypatch: pytest.MonkeyPatch, data: Path, clip: str, text: str) -> Settings:
    monkeypatch.setenv("PIXSEARCH_DATA_DIR", str(data))
    monkeypatch.setenv("PIXSEARCH_CLIP_MODEL", clip)
    monkeypatch.setenv("PIXSEARCH_TEXT_MODEL", text)
    return Settings()


def test_cli_pull_from_local_snapshots_then_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_env(
        monkeypatch,
        tmp_path / "data",
        "immich-app/ViT-B-32__openai",
        "sentence-transformers/all-MiniLM-L6-v2",
    )
    runner = CliRunner()
    before = runner.invoke(app, ["models", "list"])
    assert before.exit_code == 0, before.output
    hub_rows = [line for line in before.output.splitlines() if line.startswith(("immich", "sent"))]
    assert len(hub_rows) == 2 and all(" no " in line for line in hub_rows)
    packaged = {line.split()[1]: line for line in before.output.splitlines()[1:]}
    assert " yes " in packaged["visual"] and packaged["visual"].startswith("efficientnet-lite3@")
    assert " yes " in packaged["words"] and "PIXSEARCH_OCR" in packaged["ocr"]  # off by default
    for name, snap in (
        ("immich-app/ViT-B-32__openai", open_clip_snapshot(tmp_path)),
        ("sentence-transformers/all-MiniLM-L6-v2", sentence_snapshot(tmp_path)),
    ):
        pulled = runner.invoke(app, ["models", "pull", name, "--from", str(snap)])
        assert pulled.exit_code == 0, pulled.output
        assert "ready at" in pulled.output
    assert (settings.models_dir / "immich-app--ViT-B-32__openai" / "visual.onnx").is_file()
    assert not list(settings.models_dir.glob(".partial-*"))
    listed = runner.invoke(app, ["models", "list"])
    assert listed.exit_code == 0, listed.output
    rows = {line.split()[0]: line.split() for line in listed.output.splitlines()[1:]}
    clip, text = rows["immich-app/ViT-B-32__openai"], rows["sentence-transformers/all-MiniLM-L6-v2"]
    assert clip[1:4] == ["clip", "yes", "8"] and clip[-1] == "MIT"
    assert text[1:4] == ["text", "yes", "8"] and text[-1] == "apache-2.0"
    again = runner.invoke(app, ["models", "pull", "immich-app/ViT-B-32__openai"])
    assert "already present" in again.output


def test_failed_conversion_leaves_no_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_env(monkeypatch, tmp_path / "data", "acme/clip", "")
    broken = open_clip_snapshot(tmp_path)
    (broken / "visual" / "preprocess_cfg.json").write_text("{not json", encoding="utf-8")
    result = CliRunner().invoke(app, ["models", "pull", "acme/clip", "--from", str(broken)])
    assert result.exit_code == 1 and "not readable JSON" in result.output
    assert not (settings.models_dir / "acme--clip").exists()
    assert not list(settings.models_dir.glob(".partial-*"))
    info = list_models(settings)[0]
    assert not info.present and "models pull acme/clip" in (info.reason or "")


def test_local_directory_needs_no_pull(tmp_path: Path) -> None:
    local = build_tiny_text(tmp_path / "mine")
    settings = Settings(data_dir=tmp_path / "data")
    assert "nothing to download" in pull_model(settings, str(local))
    with pytest.raises(ModelLayoutError, match="--from"):
        pull_model(settings, str(sentence_snapshot(tmp_path)))
