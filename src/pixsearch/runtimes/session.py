"""ONNX Runtime sessions, configured in one place: threads, graph optimisation, providers."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

log = logging.getLogger(__name__)

# In order of preference; the CPU provider is always there and always last.
PREFERRED_PROVIDERS = ("CUDAExecutionProvider", "CPUExecutionProvider")
ONNX_TYPES: dict[str, type[np.generic]] = {
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
}


def select_providers() -> list[str]:
    """The execution providers to use: CUDA first when this onnxruntime build has it."""
    available = set(ort.get_available_providers())
    return [name for name in PREFERRED_PROVIDERS if name in available]


def create_session(path: Path, threads: int) -> ort.InferenceSession:
    """Open an ONNX graph for inference; `threads` 0 lets ONNX Runtime use every core."""
    if not path.is_file():
        raise FileNotFoundError(f"ONNX model file {path} does not exist")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # One batch runs at a time per model; parallelism lives inside the operators.
    options.inter_op_num_threads = 1
    if threads > 0:
        options.intra_op_num_threads = threads
    options.log_severity_level = 3  # warnings about unused initialisers are noise here
    providers = select_providers()
    session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
    log.info("loaded %s with %s", path, ", ".join(session.get_providers()))
    return session


@dataclass(frozen=True)
class Port:
    """One input or output of a graph: its name, element type and static sizes (None = any)."""

    name: str
    dtype: type[np.generic]
    shape: tuple[int | None, ...]

    @property
    def fixed_batch(self) -> int | None:
        """The batch size the graph was exported with, if it cannot take any other."""
        return self.shape[0] if self.shape else None


def describe_port(arg: ort.NodeArg) -> Port:
    """Name, NumPy type and static sizes of a graph input or output."""
    shape = tuple(dim if isinstance(dim, int) and dim > 0 else None for dim in arg.shape)
    return Port(arg.name, ONNX_TYPES.get(arg.type, np.float32), shape)


def find_port(ports: list[Port], names: tuple[str, ...], what: str, path: Path) -> Port:
    """The first port whose name is in `names` (in that order); error naming the graph if none."""
    for name in names:
        for port in ports:
            if port.name == name:
                return port
    found = ", ".join(port.name for port in ports)
    raise ValueError(f"{path} has no {what} (looked for {', '.join(names)}; it has {found})")


def run_in_chunks(
    session: ort.InferenceSession,
    output: str,
    feeds: dict[str, NDArray[np.generic]],
    chunk: int,
) -> NDArray[np.float32]:
    """Run `session` on `feeds` `chunk` rows at a time and stack the one output asked for."""
    total = len(next(iter(feeds.values())))
    parts = []
    for start in range(0, total, chunk):
        part = {name: array[start : start + chunk] for name, array in feeds.items()}
        parts.append(np.asarray(session.run([output], part)[0], dtype=np.float32))
    return np.concatenate(parts, axis=0)
