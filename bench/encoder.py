"""A full-size ViT-B/32 image tower with random weights, and the bare speed of an ONNX encoder.

No CLIP weights can be had on these machines, but speed does not depend on the weights'
values: `build_vit_b32` writes OpenAI's ViT-B/32 image tower (patch 32, 224 px, 12 layers,
width 768, 12 heads, MLP 3072, QuickGELU, projection to 512) as an ONNX graph with random
weights, cached under the temp directory. `write_clip_dir` makes a CLIP model directory in
pixsearch's layout around it (the text tower is the tiny test one, of width 512), for
`python -m bench.ingest --clip DIR`.

    python -m bench.encoder [--write DIR] [--threads 0] [--batch 16] [--seconds 10] [--int8]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from pixsearch.runtimes.session import create_session

CACHE = Path(tempfile.gettempdir()) / "pixsearch-bench"
SIZE, PATCH, WIDTH, LAYERS, HEADS, MLP, EMBED = 224, 32, 768, 12, 12, 3072, 512
TOKENS = (SIZE // PATCH) ** 2 + 1  # 49 patches and the class token


class _Graph:
    """Nodes and random initialisers of a graph under construction."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.weights: list[onnx.TensorProto] = []
        self.count = 0

    def const(self, name: str, value: np.ndarray) -> str:
        self.weights.append(numpy_helper.from_array(value, name))
        return name

    def random(self, name: str, shape: tuple[int, ...], scale: float = 0.02) -> str:
        value = (self.rng.standard_normal(shape, dtype=np.float32) * scale).astype(np.float32)
        return self.const(name, value)

    def op(self, kind: str, inputs: list[str], **attributes: object) -> str:
        self.count += 1
        output = f"{kind.lower()}_{self.count}"
        self.nodes.append(helper.make_node(kind, inputs, [output], **attributes))
        return output

    def linear(self, x: str, name: str, fan_in: int, fan_out: int) -> str:
        weight = self.random(f"{name}.w", (fan_in, fan_out))
        bias = self.random(f"{name}.b", (fan_out,))
        return self.op("Add", [self.op("MatMul", [x, weight]), bias])

    def layer_norm(self, x: str, name: str) -> str:
        scale = self.const(f"{name}.g", np.ones(WIDTH, np.float32))
        bias = self.const(f"{name}.b", np.zeros(WIDTH, np.float32))
        return self.op("LayerNormalization", [x, scale, bias], axis=-1, epsilon=1e-5)


def _attention(g: _Graph, x: str, name: str) -> str:
    heads = g.const(f"{name}.heads", np.array([0, 0, HEADS, WIDTH // HEADS], np.int64))
    q, k, v = (g.op("Reshape", [g.linear(x, f"{name}.{p}", WIDTH, WIDTH), heads]) for p in "qkv")
    q = g.op("Transpose", [q], perm=[0, 2, 1, 3])
    k = g.op("Transpose", [k], perm=[0, 2, 3, 1])
    v = g.op("Transpose", [v], perm=[0, 2, 1, 3])
    scale = g.const(f"{name}.scale", np.array((WIDTH // HEADS) ** -0.5, np.float32))
    weights = g.op("Softmax", [g.op("Mul", [g.op("MatMul", [q, k]), scale])], axis=-1)
    mixed = g.op("Transpose", [g.op("MatMul", [weights, v])], perm=[0, 2, 1, 3])
    flat = g.op("Reshape", [mixed, g.const(f"{name}.flat", np.array([0, 0, WIDTH], np.int64))])
    return g.linear(flat, f"{name}.out", WIDTH, WIDTH)


def _mlp(g: _Graph, x: str, name: str) -> str:
    hidden = g.linear(x, f"{name}.fc", WIDTH, MLP)
    factor = g.const(f"{name}.gelu", np.array(1.702, np.float32))  # CLIP's QuickGELU
    gated = g.op("Mul", [hidden, g.op("Sigmoid", [g.op("Mul", [hidden, factor])])])
    return g.linear(gated, f"{name}.proj", MLP, WIDTH)


def vit_b32_graph(seed: int = 0) -> onnx.ModelProto:
    """pixel_values [N, 3, 224, 224] -> image_embeds [N, 512], ViT-B/32 with random weights."""
    g = _Graph(seed)
    patches = g.op(
        "Conv", ["pixel_values", g.random("conv", (WIDTH, 3, PATCH, PATCH))], strides=[PATCH, PATCH]
    )
    grid = g.op("Reshape", [patches, g.const("grid", np.array([0, WIDTH, -1], np.int64))])
    tokens = g.op("Transpose", [grid], perm=[0, 2, 1])
    batch = g.op(
        "Slice",
        [
            g.op("Shape", ["pixel_values"]),
            g.const("zero", np.array([0])),
            g.const("one", np.array([1])),
        ],
    )
    cls_shape = g.op("Concat", [batch, g.const("cls_rest", np.array([1, WIDTH]))], axis=0)
    cls = g.op("Expand", [g.random("class_embedding", (1, 1, WIDTH)), cls_shape])
    x = g.op("Add", [g.op("Concat", [cls, tokens], axis=1), g.random("positions", (TOKENS, WIDTH))])
    x = g.layer_norm(x, "ln_pre")
    for layer in range(LAYERS):
        x = g.op("Add", [x, _attention(g, g.layer_norm(x, f"l{layer}.ln1"), f"l{layer}.attn")])
        x = g.op("Add", [x, _mlp(g, g.layer_norm(x, f"l{layer}.ln2"), f"l{layer}.mlp")])
    first = g.op("Gather", [x, g.const("cls_index", np.array(0, np.int64))], axis=1)
    pooled = g.layer_norm(first, "ln_post")
    g.nodes.append(
        helper.make_node("MatMul", [pooled, g.random("proj", (WIDTH, EMBED))], ["image_embeds"])
    )
    image = ["batch", 3, SIZE, SIZE]
    graph = helper.make_graph(
        g.nodes,
        "vit_b32_random",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, image)],
        [helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, ["batch", EMBED])],
        g.weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def build_vit_b32(cache: Path = CACHE) -> Path:
    """The random ViT-B/32 image tower's file, built once and kept in `cache`."""
    path = cache / "vit-b32-random-visual.onnx"
    if not path.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        onnx.save(vit_b32_graph(), str(partial))
        partial.rename(path)
    return path


def write_clip_dir(target: Path) -> Path:
    """A CLIP model directory in pixsearch's layout with the full-size random image tower."""
    from tests.runtimes.tinymodels import build_tiny_clip

    build_tiny_clip(target, dim=EMBED, image_size=SIZE, context_length=77)
    (target / "visual.onnx").unlink()
    (target / "visual.onnx").hardlink_to(build_vit_b32())
    config = json.loads((target / "config.json").read_text(encoding="utf-8"))
    config.update(name="vit-b32-random", license="CC0-1.0 (random weights)")
    (target / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return target


def measure_encoder(
    model: Path, threads: int = 0, batch: int = 16, seconds: float = 10.0, n: int | None = None
) -> float:
    """Images per second of the bare ONNX image session (a directory's visual.onnx, or a file).

    Runs whole batches of random pixels until `seconds` have passed (or `n` images).
    """
    graph = model / "visual.onnx" if model.is_dir() else model
    session = create_session(graph, threads)
    port = session.get_inputs()[0]
    pixels = np.random.default_rng(0).standard_normal((batch, 3, SIZE, SIZE), dtype=np.float32)
    session.run(None, {port.name: pixels})  # first run allocates: not counted
    done, started = 0, time.perf_counter()
    while (n is None and time.perf_counter() - started < seconds) or (n is not None and done < n):
        session.run(None, {port.name: pixels})
        done += batch
    return done / (time.perf_counter() - started)


def quantize_int8(model: Path) -> Path:
    """A dynamically int8-quantised copy of an image tower (weights int8, activations float)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target = model.with_name(model.stem + "-int8.onnx")
    if not target.is_file():
        quantize_dynamic(str(model), str(target), weight_type=QuantType.QInt8)
    return target


def agreement(first: Path, second: Path, images: int = 32) -> float:
    """The lowest cosine between two towers' embeddings of the same random pictures."""
    pixels = np.random.default_rng(1).standard_normal((images, 3, SIZE, SIZE), dtype=np.float32)
    outputs = []
    for graph in (first, second):
        session = create_session(graph, 0)
        vectors = session.run(None, {session.get_inputs()[0].name: pixels})[0]
        outputs.append(vectors / np.linalg.norm(vectors, axis=1, keepdims=True))
    return float((outputs[0] * outputs[1]).sum(axis=1).min())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", type=Path, help="write a CLIP model directory here")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--int8", action="store_true", help="also the int8-quantised tower")
    args = parser.parse_args()
    started = time.perf_counter()
    visual = build_vit_b32()
    print(
        f"ViT-B/32 random image tower: {visual} ({visual.stat().st_size / 1e6:.0f} MB, "
        f"{time.perf_counter() - started:.1f} s to build or find)"
    )
    if args.write:
        print(f"CLIP model directory: {write_clip_dir(args.write)}")
    rate = measure_encoder(visual, args.threads, args.batch, args.seconds)
    print(f"fp32: {rate:.1f} images/s (threads {args.threads or 'all'}, batch {args.batch})")
    if args.int8:
        int8 = quantize_int8(visual)
        rate8 = measure_encoder(int8, args.threads, args.batch, args.seconds)
        print(
            f"int8 (dynamic): {rate8:.1f} images/s ({rate8 / rate:.2f}x), "
            f"lowest cosine to fp32 over 32 pictures {agreement(visual, int8):.4f}"
        )


if __name__ == "__main__":
    main()
