"""Tiny models with seeded random weights, in exactly the production directory layout.

`build_tiny_clip` and `build_tiny_text` write real ONNX graphs (made with `onnx.helper`)
and a real `tokenizer.json` (made with `tokenizers`), so every test runs the real loading,
preprocessing, tokenising and batching code, offline, in milliseconds. Other test suites
import them: keep them fast and deterministic.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

OPSET = 17
IR_VERSION = 8
POOL = 8  # the tiny image tower averages 8 x 8 blocks of pixels
TOKEN_WIDTH = 16  # width of the tiny token embeddings before projection
WORDS = (
    "a an the of in on with and or to at for is are photo picture image "
    "man woman person people child dog cat bird horse car bike beach sea mountain city "
    "snow field street house tree flower food red green blue black white yellow "
    "pink brown grey dress shirt t-shirt pants shorts skirt shoes hat hoodie "
    "outwear longsleeve polo top sunny night running plays jumping over puppy"
).split()
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def build_tiny_clip(
    path: Path, dim: int = 8, image_size: int = 32, context_length: int = 16, seed: int = 0
) -> Path:
    """Write a CLIP model directory (visual.onnx, textual.onnx, tokenizer.json, config.json)."""
    if image_size % POOL:
        raise ValueError(f"image_size must be a multiple of {POOL}")
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tokenizer = _word_tokenizer(bos="<|startoftext|>", eos="<|endoftext|>", pad="<|pad|>")
    tokenizer.save(str(path / "tokenizer.json"))
    _save(_tiny_visual(rng, dim, image_size), path / "visual.onnx")
    _save(_tiny_textual(rng, dim, tokenizer.get_vocab_size()), path / "textual.onnx")
    config = {
        "kind": "clip",
        "name": "tiny-clip",
        "embed_dim": dim,
        "image_size": image_size,
        "mean": CLIP_MEAN,
        "std": CLIP_STD,
        "interpolation": "bicubic",
        "resize_mode": "shortest",
        "context_length": context_length,
        "pad_token": "<|pad|>",
        "thresholds": {"~": 0.1, "~~": 0.3, "~~~": 0.5},
        "image_thresholds": {"~": 0.5, "~~": 0.7, "~~~": 0.9},
        "license": "CC0-1.0 (random weights made by the tests)",
    }
    (path / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return path


def build_tiny_text(path: Path, dim: int = 8, max_length: int = 32, seed: int = 1) -> Path:
    """Write a sentence model directory (model.onnx, tokenizer.json, config.json)."""
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tokenizer = _word_tokenizer(bos="[CLS]", eos="[SEP]", pad="[PAD]")
    # As upstream files do: a fixed padding and a truncation the loader must override.
    tokenizer.enable_truncation(max_length=max_length * 4)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]", length=max_length * 4)
    tokenizer.save(str(path / "tokenizer.json"))
    _save(_tiny_sentence(rng, dim, tokenizer.get_vocab_size()), path / "model.onnx")
    config = {
        "kind": "text",
        "name": "tiny-text",
        "dim": dim,
        "pooling": "mean",
        "normalize": True,
        "max_length": max_length,
        "thresholds": {"~": 0.2, "~~": 0.4, "~~~": 0.6},
        "license": "CC0-1.0 (random weights made by the tests)",
    }
    (path / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return path


def _word_tokenizer(bos: str, eos: str, pad: str) -> Tokenizer:
    """A lower-casing word-level tokenizer over WORDS, wrapping texts in bos ... eos."""
    specials = [pad, "[UNK]", bos, eos]
    vocab = {token: index for index, token in enumerate([*specials, *WORDS])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", special_tokens=[(bos, vocab[bos]), (eos, vocab[eos])]
    )
    tokenizer.decoder = decoders.WordPiece()
    tokenizer.add_special_tokens(specials)
    return tokenizer


def _weights(rng: np.random.Generator, name: str, shape: tuple[int, ...]) -> onnx.TensorProto:
    return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)


def _tiny_visual(rng: np.random.Generator, dim: int, size: int) -> onnx.ModelProto:
    """pixel_values [N,3,S,S] -> 8x8 average pool -> flatten -> tanh -> MatMul -> [N,dim]."""
    features = 3 * (size // POOL) ** 2
    nodes = [
        helper.make_node(
            "AveragePool",
            ["pixel_values"],
            ["pooled"],
            kernel_shape=[POOL, POOL],
            strides=[POOL, POOL],
        ),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("Tanh", ["flat"], ["squashed"]),
        helper.make_node("MatMul", ["squashed", "projection"], ["image_embeds"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_clip_visual",
        [
            helper.make_tensor_value_info(
                "pixel_values", TensorProto.FLOAT, ["batch", 3, size, size]
            )
        ],
        [helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, ["batch", dim])],
        [_weights(rng, "projection", (features, dim))],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])


def _tiny_textual(rng: np.random.Generator, dim: int, vocab: int) -> onnx.ModelProto:
    """input_ids, attention_mask [N,L] -> embedding -> mean over the mask -> MatMul -> [N,dim]."""
    nodes = [
        helper.make_node("Gather", ["embedding", "input_ids"], ["tokens"]),
        helper.make_node("Cast", ["attention_mask"], ["mask"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask", "last_axis"], ["mask3"]),
        helper.make_node("Mul", ["tokens", "mask3"], ["kept"]),
        helper.make_node("ReduceSum", ["kept", "seq_axis"], ["summed"], keepdims=0),
        helper.make_node("ReduceSum", ["mask3", "seq_axis"], ["counts"], keepdims=0),
        helper.make_node("Div", ["summed", "counts"], ["mean"]),
        helper.make_node("MatMul", ["mean", "projection"], ["text_embeds"]),
    ]
    int_input = ["batch", "sequence"]
    graph = helper.make_graph(
        nodes,
        "tiny_clip_textual",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, int_input),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, int_input),
        ],
        [helper.make_tensor_value_info("text_embeds", TensorProto.FLOAT, ["batch", dim])],
        [
            _weights(rng, "embedding", (vocab, TOKEN_WIDTH)),
            _weights(rng, "projection", (TOKEN_WIDTH, dim)),
            numpy_helper.from_array(np.array([2], dtype=np.int64), "last_axis"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "seq_axis"),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])


def _tiny_sentence(rng: np.random.Generator, dim: int, vocab: int) -> onnx.ModelProto:
    """input_ids, attention_mask, token_type_ids [N,L] -> tanh(word + type embedding) [N,L,dim]."""
    nodes = [
        helper.make_node("Gather", ["word_embedding", "input_ids"], ["words"]),
        helper.make_node("Gather", ["type_embedding", "token_type_ids"], ["types"]),
        helper.make_node("Add", ["words", "types"], ["summed"]),
        helper.make_node("Tanh", ["summed"], ["last_hidden_state"]),
    ]
    int_input = ["batch", "sequence"]
    graph = helper.make_graph(
        nodes,
        "tiny_sentence_model",
        [
            helper.make_tensor_value_info(name, TensorProto.INT64, int_input)
            for name in ("input_ids", "attention_mask", "token_type_ids")
        ],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, [*int_input, dim])],
        [_weights(rng, "word_embedding", (vocab, dim)), _weights(rng, "type_embedding", (2, dim))],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])


def _save(model: onnx.ModelProto, path: Path) -> None:
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
