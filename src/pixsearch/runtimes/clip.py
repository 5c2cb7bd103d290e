"""CLIP: images and texts into one vector space, with two ONNX towers.

Layout: `visual.onnx` (input `pixel_values` float32 [N, 3, S, S] -> `image_embeds` [N, D]),
`textual.onnx` (`input_ids` int64 [N, L], optionally `attention_mask` -> `text_embeds`
[N, D]), `tokenizer.json` and `config.json` (see `read_clip_config`). Graphs exported by
others name their ports differently (`image`/`text` with `embedding`, int32 ids) or were
exported for a fixed batch of one: the towers read names, types and sizes from the graph.
The two towers load separately, so a worker that only ingests never loads the text tower.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from pixsearch.runtimes.base import InferenceModel, ModelLayoutError, require
from pixsearch.runtimes.session import (
    Port,
    create_session,
    describe_port,
    find_port,
    run_in_chunks,
)
from pixsearch.runtimes.text import l2_normalize, open_tokenizer, tokenize
from pixsearch.runtimes.transforms import PreprocessConfig, preprocess_clip

# Cosine thresholds of `~`, `~~`, `~~~` when config.json names none. Text against image:
# with OpenAI's ViT-B/32 a fitting caption scores about 0.25-0.35, an unrelated one < 0.2.
DEFAULT_THRESHOLDS = {"~": 0.22, "~~": 0.26, "~~~": 0.30}
# Image against image: near-duplicates score above 0.95, the same subject about 0.8.
DEFAULT_IMAGE_THRESHOLDS = {"~": 0.75, "~~": 0.85, "~~~": 0.93}
IMAGE_INPUTS = ("pixel_values", "image", "input")
IMAGE_OUTPUTS = ("image_embeds", "embedding", "image_embedding")
ID_INPUTS = ("input_ids", "text", "input")
TEXT_OUTPUTS = ("text_embeds", "embedding", "text_embedding")


@dataclass(frozen=True)
class ClipConfig:
    """The parts of a CLIP model's config.json that running it needs."""

    embed_dim: int
    preprocess: PreprocessConfig
    context_length: int
    thresholds: dict[str, float]
    image_thresholds: dict[str, float]
    pad_token: str | None


def read_clip_config(config: dict[str, Any], path: Path) -> ClipConfig:
    """Validate and type a CLIP config.json; errors name the directory and the key."""
    mean, std = require(config, "mean", path), require(config, "std", path)
    if len(mean) != 3 or len(std) != 3:
        raise ModelLayoutError(f"{path / 'config.json'}: mean and std need 3 values each")
    preprocess = PreprocessConfig(
        image_size=int(require(config, "image_size", path)),
        mean=(float(mean[0]), float(mean[1]), float(mean[2])),
        std=(float(std[0]), float(std[1]), float(std[2])),
        interpolation=str(config.get("interpolation", "bicubic")),
        resize_mode=str(config.get("resize_mode", "shortest")),
    )
    return ClipConfig(
        embed_dim=int(require(config, "embed_dim", path)),
        preprocess=preprocess,
        context_length=int(config.get("context_length", 77)),
        thresholds=dict(config.get("thresholds", DEFAULT_THRESHOLDS)),
        image_thresholds=dict(config.get("image_thresholds", DEFAULT_IMAGE_THRESHOLDS)),
        pad_token=config.get("pad_token"),
    )


def pick_output(outputs: list[Port], names: tuple[str, ...], graph: Path) -> Port:
    """The embedding output: by name, else the only two-dimensional one."""
    try:
        return find_port(outputs, names, "embedding output", graph)
    except ValueError:
        flat = [port for port in outputs if len(port.shape) == 2]
        if len(flat) != 1:
            raise
        return flat[0]


def check_dim(port: Port, dim: int, graph: Path) -> None:
    """Refuse a graph whose output size contradicts config.json's embed_dim."""
    if port.shape[-1] not in (None, dim):
        raise ModelLayoutError(f"{graph} outputs {port.shape[-1]}-d vectors, config says {dim}")


class ClipTextEncoder(InferenceModel[Sequence[str], NDArray[np.float32]]):
    """The text tower of a CLIP model directory."""

    kind = "clip"
    weight_files = ("textual.onnx",)

    def __init__(self, path: Path, *, threads: int = 0, max_batch: int = 16) -> None:
        super().__init__(path, threads=threads, max_batch=max_batch)
        self.clip = read_clip_config(self.config, path)

    @property
    def dim(self) -> int:
        return self.clip.embed_dim

    def _load(self) -> None:
        graph = self.path / "textual.onnx"
        self.session = create_session(graph, self.threads)
        inputs = [describe_port(arg) for arg in self.session.get_inputs()]
        self.ids = find_port(inputs, ID_INPUTS, "token ids input", graph)
        masks = [port for port in inputs if port.name == "attention_mask"]
        self.mask = masks[0] if masks else None
        outputs = [describe_port(arg) for arg in self.session.get_outputs()]
        self.output = pick_output(outputs, TEXT_OUTPUTS, graph)
        check_dim(self.output, self.dim, graph)
        # CLIP reads the end-of-text position through a causal mask, so padding to the full
        # context is always right; a graph exported for one length gets exactly that.
        length = self.ids.shape[1] if len(self.ids.shape) > 1 else None
        pad_to = length or self.clip.context_length
        self.tokenizer = open_tokenizer(
            self.path / "tokenizer.json", pad_to, pad_to, self.clip.pad_token
        )

    def _predict(self, inputs: Sequence[str]) -> NDArray[np.float32]:
        if not inputs:
            return np.zeros((0, self.dim), dtype=np.float32)
        tokens = tokenize(self.tokenizer, inputs)
        feeds: dict[str, NDArray[np.generic]] = {
            self.ids.name: tokens["input_ids"].astype(self.ids.dtype)
        }
        if self.mask is not None:
            feeds[self.mask.name] = tokens["attention_mask"].astype(self.mask.dtype)
        chunk = self.ids.fixed_batch or self.max_batch
        return l2_normalize(run_in_chunks(self.session, self.output.name, feeds, chunk))


class ClipModel(InferenceModel[Sequence[Image.Image], NDArray[np.float32]]):
    """A CLIP model directory: `embed_images` (the image tower) and `embed_texts`."""

    kind = "clip"
    weight_files = ("visual.onnx", "textual.onnx")

    def __init__(self, path: Path, *, threads: int = 0, max_batch: int = 16) -> None:
        super().__init__(path, threads=threads, max_batch=max_batch)
        self.clip = read_clip_config(self.config, path)
        self.thresholds = self.clip.thresholds
        self.image_thresholds = self.clip.image_thresholds
        self.textual = ClipTextEncoder(path, threads=threads, max_batch=max_batch)

    @property
    def dim(self) -> int:
        return self.clip.embed_dim

    def preferred_image_size(self) -> tuple[int, int]:
        """The smallest decode that loses nothing: JPEG draft mode may shrink down to this."""
        size = self.clip.preprocess.image_size
        return (size, size)

    def preprocess(self, image: Image.Image) -> NDArray[np.float32]:
        """The [3, S, S] model input for `image` (pure; safe in any thread)."""
        return preprocess_clip(image, self.clip.preprocess)

    def embed_images(self, images: Sequence[Image.Image]) -> NDArray[np.float32]:
        """[N, dim] unit vectors of `images`, in order."""
        return self.predict(images)

    def embed_pixels(self, pixels: Sequence[NDArray[np.float32]]) -> NDArray[np.float32]:
        """[N, dim] unit vectors of already preprocessed images (see `preprocess`)."""
        self.load()
        if not pixels:
            return np.zeros((0, self.dim), dtype=np.float32)
        batch = np.stack(pixels).astype(self.input.dtype, copy=False)
        chunk = self.input.fixed_batch or self.max_batch
        feeds = {self.input.name: batch}
        return l2_normalize(run_in_chunks(self.session, self.output.name, feeds, chunk))

    def embed_texts(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """[N, dim] unit vectors of `texts`, comparable with the image vectors."""
        return self.textual.predict(texts)

    def _load(self) -> None:
        graph = self.path / "visual.onnx"
        self.session = create_session(graph, self.threads)
        inputs = [describe_port(arg) for arg in self.session.get_inputs()]
        self.input = (
            inputs[0] if len(inputs) == 1 else find_port(inputs, IMAGE_INPUTS, "image input", graph)
        )
        size = self.clip.preprocess.image_size
        if self.input.shape[2:] not in ((None, None), (size, size)):
            raise ModelLayoutError(
                f"{graph} takes {self.input.shape[2:]} pixels, config says {size}"
            )
        outputs = [describe_port(arg) for arg in self.session.get_outputs()]
        self.output = pick_output(outputs, IMAGE_OUTPUTS, graph)
        check_dim(self.output, self.dim, graph)

    def _predict(self, inputs: Sequence[Image.Image]) -> NDArray[np.float32]:
        return self.embed_pixels([self.preprocess(image) for image in inputs])
