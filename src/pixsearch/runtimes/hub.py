"""Models from a hub: download once (`pixsearch models pull`), lay out as pixsearch reads them.

Three upstream layouts are known, recognised by their files, not by the repository name:

- open_clip exports (`immich-app/ViT-B-32__openai`): `visual/model.onnx`,
  `visual/preprocess_cfg.json`, `textual/model.onnx`, `textual/tokenizer.json`, and
  `config.json` with `embed_dim`, `vision_cfg.image_size`, `text_cfg.context_length`;
- transformers.js exports of CLIP (`Xenova/clip-vit-base-patch32`): `onnx/vision_model.onnx`,
  `onnx/text_model.onnx`, `tokenizer.json`, `preprocessor_config.json`, `config.json`;
- sentence-transformers repositories (`sentence-transformers/all-MiniLM-L6-v2`):
  `onnx/model.onnx`, `tokenizer.json`, `config.json` (`hidden_size`),
  `sentence_bert_config.json` (`max_seq_length`).

`convert_snapshot` is a pure function from such a directory to ours (see base.LAYOUTS); it
hard-links the weights where it can. `pull_model` downloads into a temporary directory
beside the target and renames it into place last, so a half download is never a model.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from pixsearch.config import Settings
from pixsearch.runtimes.base import (
    LAYOUTS,
    ModelLayoutError,
    missing_files,
    model_kind,
    read_config,
)
from pixsearch.runtimes.registry import layout_problem, local_dir

# Files worth downloading from any repository: the three layouts above and ours. Anything
# else (fp16 and quantised variants, PyTorch weights) stays on the hub.
WANTED = (
    "README.md", "config.json", "tokenizer.json", "tokenizer_config.json",
    "preprocessor_config.json", "sentence_bert_config.json",
    "visual/model.onnx", "visual/preprocess_cfg.json",
    "textual/model.onnx", "textual/tokenizer.json", "textual/tokenizer_config.json",
    "onnx/vision_model.onnx", "onnx/text_model.onnx", "onnx/model.onnx",
    "visual.onnx", "textual.onnx", "model.onnx",
)  # fmt: skip
# Licenses of the weights, where the repository's card does not say (OpenAI's CLIP: MIT).
KNOWN_LICENSES = {
    "immich-app/ViT-B-32__openai": "MIT",
    "Xenova/clip-vit-base-patch32": "MIT",
    "sentence-transformers/all-MiniLM-L6-v2": "Apache-2.0",
    "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2": "Apache-2.0",
}
DEFAULT_TEXT_LENGTH = 256
PARTIAL_PREFIX = ".partial-"


@dataclass(frozen=True)
class ModelInfo:
    """One configured model, as `pixsearch models list` shows it."""

    name: str
    kind: str
    present: bool
    dim: int | None
    size_bytes: int
    license: str | None
    reason: str | None = None  # why it is not present


def convert_snapshot(snapshot: Path, target: Path, name: str) -> Path:
    """Write `target` in pixsearch's layout from a downloaded hub `snapshot` directory."""
    layout = detect_layout(snapshot)
    target.mkdir(parents=True, exist_ok=False)
    license_ = card_license(snapshot) or KNOWN_LICENSES.get(name)
    if layout == "pixsearch":
        for file in LAYOUTS[model_kind(snapshot)]:
            link_or_copy(snapshot / file, target / file)
        return target
    if layout == "open_clip":
        config = open_clip_config(snapshot)
        files = {
            "visual.onnx": "visual/model.onnx",
            "textual.onnx": "textual/model.onnx",
            "tokenizer.json": "textual/tokenizer.json",
        }
    elif layout == "transformers_clip":
        config = transformers_clip_config(snapshot)
        files = {
            "visual.onnx": "onnx/vision_model.onnx",
            "textual.onnx": "onnx/text_model.onnx",
            "tokenizer.json": "tokenizer.json",
        }
    else:
        config = sentence_config(snapshot)
        files = {"model.onnx": "onnx/model.onnx", "tokenizer.json": "tokenizer.json"}
    for ours, theirs in files.items():
        link_or_copy(snapshot / theirs, target / ours)
    config.update(name=name, source=f"{name} ({layout} layout)", license=license_)
    (target / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return target


def detect_layout(snapshot: Path) -> str:
    """`open_clip`, `transformers_clip`, `sentence_transformers` or `pixsearch`."""

    def has(*files: str) -> bool:
        return all((snapshot / file).is_file() for file in files)

    if has("visual/model.onnx", "textual/model.onnx", "textual/tokenizer.json", "config.json"):
        return "open_clip"
    if has("onnx/vision_model.onnx", "onnx/text_model.onnx", "tokenizer.json"):
        return "transformers_clip"
    if has("onnx/model.onnx", "tokenizer.json", "config.json"):
        return "sentence_transformers"
    try:
        if not missing_files(snapshot, model_kind(snapshot)):
            return "pixsearch"
    except ModelLayoutError:
        pass
    found = sorted(str(p.relative_to(snapshot)) for p in snapshot.rglob("*") if p.is_file())
    raise ModelLayoutError(
        f"{snapshot} is in no known layout (open_clip, transformers.js CLIP, "
        f"sentence-transformers ONNX, pixsearch); it has {', '.join(found) or 'no files'}"
    )


def open_clip_config(snapshot: Path) -> dict[str, Any]:
    """Our CLIP config from an open_clip export's config.json and preprocess_cfg.json."""
    upstream = read_config(snapshot)
    preprocess = _read_json(snapshot / "visual" / "preprocess_cfg.json")
    size = preprocess.get("size", upstream["vision_cfg"]["image_size"])
    return {
        "kind": "clip",
        "embed_dim": int(upstream["embed_dim"]),
        "image_size": int(size[0] if isinstance(size, list) else size),
        "mean": [float(v) for v in preprocess["mean"]],
        "std": [float(v) for v in preprocess["std"]],
        "interpolation": str(preprocess.get("interpolation", "bicubic")),
        "resize_mode": str(preprocess.get("resize_mode", "shortest")),
        "context_length": int(upstream.get("text_cfg", {}).get("context_length", 77)),
        "pad_token": _pad_token(snapshot / "textual" / "tokenizer_config.json"),
    }


def transformers_clip_config(snapshot: Path) -> dict[str, Any]:
    """Our CLIP config from a transformers CLIP config.json and preprocessor_config.json."""
    upstream = read_config(snapshot)
    processor = _read_json(snapshot / "preprocessor_config.json")
    crop = processor.get("crop_size", upstream.get("vision_config", {}).get("image_size", 224))
    text = upstream.get("text_config") or {}
    return {
        "kind": "clip",
        "embed_dim": int(upstream["projection_dim"]),
        "image_size": int(crop["height"] if isinstance(crop, dict) else crop),
        "mean": [float(v) for v in processor["image_mean"]],
        "std": [float(v) for v in processor["image_std"]],
        "interpolation": Image.Resampling(int(processor.get("resample", 3))).name.lower(),
        "resize_mode": "shortest",
        "context_length": int(text.get("max_position_embeddings", 77)),
        "pad_token": _pad_token(snapshot / "tokenizer_config.json"),
    }


def sentence_config(snapshot: Path) -> dict[str, Any]:
    """Our text config from a sentence-transformers repository (mean pooling, normalised)."""
    upstream = read_config(snapshot)
    sbert = snapshot / "sentence_bert_config.json"
    length = _read_json(sbert).get("max_seq_length") if sbert.is_file() else None
    return {
        "kind": "text",
        "dim": int(upstream["hidden_size"]),
        "max_length": int(length or DEFAULT_TEXT_LENGTH),
        "pooling": "mean",
        "normalize": True,
    }


def card_license(snapshot: Path) -> str | None:
    """The `license:` of a model card's front matter (README.md), if it has one."""
    card = snapshot / "README.md"
    if not card.is_file():
        return None
    match = re.search(r"^license:\s*(\S+)\s*$", card.read_text("utf-8", "replace"), re.M)
    return match.group(1) if match else None


def link_or_copy(source: Path, target: Path) -> None:
    """Hard-link `source` at `target` (no second copy of the weights), else copy it."""
    try:
        os.link(source.resolve(), target)
    except OSError:
        shutil.copyfile(source, target)


def pull_model(settings: Settings, name: str, source: Path | None = None) -> str:
    """Download hub repository `name` (or convert the local snapshot `source`) into models_dir.

    Returns what was done; raises ModelLayoutError or RuntimeError when it cannot be done.
    """
    local = Path(name).expanduser()
    if source is None and local.is_dir():
        layout = detect_layout(local)
        if layout == "pixsearch":
            return "a local directory in pixsearch's layout: nothing to download"
        raise ModelLayoutError(
            f"{local} is in the {layout} layout; convert it with `pixsearch models pull "
            f"OWNER/NAME --from {name}` and set the model to OWNER/NAME"
        )
    target = local_dir(settings, name)
    if target.is_dir():
        return f"already present at {target}"
    settings.models_dir.mkdir(parents=True, exist_ok=True)
    partial = settings.models_dir / f"{PARTIAL_PREFIX}{target.name}"
    shutil.rmtree(partial, ignore_errors=True)  # what a killed pull left
    try:
        snapshot = source if source is not None else download_snapshot(name, partial / "snapshot")
        convert_snapshot(snapshot, partial / "model", name)
        (partial / "model").rename(target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return f"ready at {target} ({_size(target) / 1e6:.1f} MB)"


def download_snapshot(name: str, folder: Path) -> Path:
    """The files of `WANTED` that hub repository `name` has, downloaded with a progress bar."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise RuntimeError(
            "downloading needs the `hub` extra: pip install 'pixsearch[hub]' "
            "(or point the setting at a local directory)"
        ) from None
    return Path(snapshot_download(repo_id=name, local_dir=folder, allow_patterns=list(WANTED)))


def list_models(settings: Settings) -> list[ModelInfo]:
    """Each configured model: present or not, kind, dimension, size on disk, license."""
    infos = []
    for kind, name in (("clip", settings.clip_model), ("text", settings.text_model)):
        if not name:
            continue
        path = local_dir(settings, name)
        problem = layout_problem(path, kind, name)
        if problem is not None:
            infos.append(ModelInfo(name, kind, False, None, 0, None, problem))
            continue
        config = read_config(path)
        dim = config.get("embed_dim") or config.get("dim") or config.get("hidden_size")
        license_ = config.get("license")
        infos.append(
            ModelInfo(
                name,
                kind,
                True,
                int(dim) if dim else None,
                _size(path),
                str(license_) if license_ else None,
            )
        )
    if settings.face_identities:
        infos.append(identity_model_info())
    return infos


def identity_model_info() -> ModelInfo:
    """The face identity model: its two weight files inside the installed package."""
    from pixsearch.runtimes.faces import DetectorUnavailable
    from pixsearch.runtimes.identities import DIM, FaceIdentifier

    name = "dlib_face_recognition_resnet_model_v1"
    try:
        identifier = FaceIdentifier()
    except DetectorUnavailable as error:
        return ModelInfo(name, "faces", False, None, 0, None, str(error))
    size = identifier.predictor.stat().st_size + identifier.resnet.stat().st_size
    return ModelInfo(name, "faces", True, DIM, size, "CC0-1.0")


def _size(path: Path) -> int:
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file())


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelLayoutError(f"{path} is not readable JSON: {error}") from None
    if not isinstance(value, dict):
        raise ModelLayoutError(f"{path} must hold a JSON object")
    return value


def _pad_token(tokenizer_config: Path) -> str | None:
    """The pad token a tokenizer_config.json names (a string or an AddedToken object)."""
    if not tokenizer_config.is_file():
        return None
    token = _read_json(tokenizer_config).get("pad_token")
    if isinstance(token, dict):
        token = token.get("content")
    return token if isinstance(token, str) else None
