"""The sentence model: texts to normalised vectors (mean pooling over the attention mask).

Layout: `model.onnx` (inputs `input_ids`, `attention_mask`, `token_type_ids`, int64
[batch, sequence]; output `last_hidden_state` [batch, sequence, dim]), `tokenizer.json`,
`config.json` with `dim` and `max_length` (or a Hugging Face config.json with
`hidden_size`, and `sentence_bert_config.json` for the length). The tokenizer file's own padding and
truncation are replaced: truncation at `max_length`, padding to the longest text of the
batch, as sentence-transformers does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from tokenizers import Encoding, Tokenizer

from pixsearch.runtimes.base import InferenceModel, ModelLayoutError, require
from pixsearch.runtimes.session import create_session, describe_port, find_port

# Cosine thresholds of `~`, `~~`, `~~~` for a sentence model whose config names none;
# measured on all-MiniLM-L6-v2: paraphrases score 0.5-0.8, unrelated texts below 0.15.
DEFAULT_THRESHOLDS = {"~": 0.35, "~~": 0.5, "~~~": 0.65}
DEFAULT_MAX_LENGTH = 256  # sentence-transformers' usual max_seq_length
PAD_CANDIDATES = ("[PAD]", "<pad>", "<|endoftext|>")


def pick_pad(tokenizer: Tokenizer, preferred: str | None) -> tuple[int, str]:
    """The padding token (id, text): the config's, else the file's, else a usual one."""
    if preferred is not None:
        pad_id = tokenizer.token_to_id(preferred)
        if pad_id is None:
            raise ModelLayoutError(f"pad token {preferred!r} is not in the tokenizer's vocabulary")
        return pad_id, preferred
    if tokenizer.padding is not None:
        return int(tokenizer.padding["pad_id"]), str(tokenizer.padding["pad_token"])
    for token in PAD_CANDIDATES:
        pad_id = tokenizer.token_to_id(token)
        if pad_id is not None:
            return pad_id, token
    return 0, tokenizer.id_to_token(0) or ""


def open_tokenizer(
    path: Path, max_length: int, pad_length: int | None, pad_token: str | None = None
) -> Tokenizer:
    """Load `tokenizer.json`, truncating at `max_length`, padding to `pad_length` or the longest.

    The file's own padding and truncation settings are overridden on purpose: upstream
    files often pad to a fixed 128, which is not what the model was used with.
    """
    tokenizer = Tokenizer.from_file(str(path))
    pad_id, token = pick_pad(tokenizer, pad_token)
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.enable_padding(pad_id=pad_id, pad_token=token, length=pad_length)
    return tokenizer


def clean_text(text: str) -> str:
    """Collapse runs of whitespace, as the models' training data had them."""
    return " ".join(text.split())


def tokenize(tokenizer: Tokenizer, texts: Sequence[str]) -> dict[str, NDArray[np.int64]]:
    """Token ids, attention mask and token types of `texts`, each [N, L] int64."""
    encodings: list[Encoding] = tokenizer.encode_batch([clean_text(text) for text in texts])
    return {
        "input_ids": np.asarray([encoding.ids for encoding in encodings], dtype=np.int64),
        "attention_mask": np.asarray(
            [encoding.attention_mask for encoding in encodings], dtype=np.int64
        ),
        "token_type_ids": np.asarray([encoding.type_ids for encoding in encodings], dtype=np.int64),
    }


def mean_pool(hidden: NDArray[np.float32], mask: NDArray[np.generic]) -> NDArray[np.float32]:
    """The average of each row's token vectors, counting only tokens the mask keeps."""
    weights = mask.astype(np.float32)[:, :, None]
    summed = (hidden * weights).sum(axis=1)
    counts = np.maximum(weights.sum(axis=1), np.float32(1e-9))
    return np.asarray(summed / counts, dtype=np.float32)


def l2_normalize(vectors: NDArray[np.float32]) -> NDArray[np.float32]:
    """Each row scaled to unit length (a zero row stays zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(vectors / np.maximum(norms, np.float32(1e-12)), dtype=np.float32)


def read_max_length(config: dict[str, Any], path: Path) -> int:
    """Truncation length: config's `max_length`, else sentence_bert_config.json's, else 256.

    A directory copied from a sentence-transformers repository has a Hugging Face
    config.json (no `max_length`) and the length in `sentence_bert_config.json`.
    """
    if "max_length" in config:
        return int(config["max_length"])
    sbert = path / "sentence_bert_config.json"
    if sbert.is_file():
        try:
            return int(json.loads(sbert.read_text(encoding="utf-8"))["max_seq_length"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ModelLayoutError(f"{sbert} has no readable max_seq_length: {error}") from None
    return DEFAULT_MAX_LENGTH


class TextModel(InferenceModel[Sequence[str], NDArray[np.float32]]):
    """A sentence-embedding model (BERT-like) run with ONNX Runtime."""

    kind = "text"
    weight_files = ("model.onnx",)

    def __init__(self, path: Path, *, threads: int = 0, max_batch: int = 16) -> None:
        super().__init__(path, threads=threads, max_batch=max_batch)
        self.max_length = read_max_length(self.config, path)
        self._dim = int(
            self.config.get("dim")
            or self.config.get("hidden_size")  # a Hugging Face config.json, as exported
            or require(self.config, "embed_dim", path)
        )
        self.thresholds: dict[str, float] = dict(self.config.get("thresholds", DEFAULT_THRESHOLDS))

    @property
    def dim(self) -> int:
        return self._dim

    def embed_texts(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """[N, dim] unit vectors of `texts`, in order."""
        return self.predict(texts)

    def _load(self) -> None:
        graph = self.path / "model.onnx"
        self.session = create_session(graph, self.threads)
        inputs = [describe_port(arg) for arg in self.session.get_inputs()]
        known = {"input_ids", "attention_mask", "token_type_ids"}
        unknown = [port.name for port in inputs if port.name not in known]
        if unknown or "input_ids" not in {port.name for port in inputs}:
            raise ModelLayoutError(f"{graph} takes inputs {unknown or 'without input_ids'}")
        self.inputs = inputs
        outputs = [describe_port(arg) for arg in self.session.get_outputs()]
        self.output = find_port(outputs, ("last_hidden_state", outputs[0].name), "output", graph)
        if self.output.shape[-1:] not in ((None,), (self._dim,)):
            raise ModelLayoutError(
                f"{graph} outputs {self.output.shape[-1]}-d, config says {self._dim}"
            )
        self.chunk = find_port(inputs, ("input_ids",), "ids", graph).fixed_batch or self.max_batch
        self.tokenizer = open_tokenizer(self.path / "tokenizer.json", self.max_length, None)

    def _predict(self, inputs: Sequence[str]) -> NDArray[np.float32]:
        # Similar lengths together, so that padding to the longest wastes little.
        order = sorted(range(len(inputs)), key=lambda index: len(inputs[index]))
        result = np.zeros((len(inputs), self._dim), dtype=np.float32)
        for start in range(0, len(order), self.chunk):
            rows = order[start : start + self.chunk]
            tokens = tokenize(self.tokenizer, [inputs[row] for row in rows])
            feeds = {port.name: tokens[port.name].astype(port.dtype) for port in self.inputs}
            hidden = self.session.run([self.output.name], feeds)[0]
            result[rows] = mean_pool(np.asarray(hidden, np.float32), tokens["attention_mask"])
        return l2_normalize(result)
