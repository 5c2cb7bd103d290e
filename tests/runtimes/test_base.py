"""Lazy, locked loading: many first callers at once, one load."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from pixsearch.runtimes.base import ModelLayoutError
from pixsearch.runtimes.clip import ClipModel
from pixsearch.runtimes.text import TextModel
from tests.runtimes.tinymodels import build_tiny_clip, build_tiny_text


class SlowTextModel(TextModel):
    """Loads slowly, so that concurrent first calls really overlap the load."""

    started = 0

    def _load(self) -> None:
        type(self).started += 1
        time.sleep(0.2)
        super()._load()


def test_concurrent_first_calls_load_once(tmp_path: Path) -> None:
    model = SlowTextModel(build_tiny_text(tmp_path / "text"))
    assert not model.loaded and model.loads == 0
    barrier = threading.Barrier(8)

    def first_call(index: int) -> np.ndarray:
        barrier.wait()
        return model.embed_texts([f"a dog number {index}", "the cat"])

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(first_call, range(8)))
    assert model.loads == 1 and SlowTextModel.started == 1 and model.loaded
    for result in results:
        np.testing.assert_allclose(result[1], results[0][1], atol=1e-6)


def test_construction_reads_config_but_loads_no_weights(tmp_path: Path) -> None:
    model = ClipModel(build_tiny_clip(tmp_path / "clip", dim=12))
    assert model.dim == 12 and not model.loaded and not hasattr(model, "session")
    model.textual.load()
    assert model.textual.loaded and not model.loaded  # a text query never loads the image tower


def test_name_is_label_plus_weight_hash(tmp_path: Path) -> None:
    one = ClipModel(build_tiny_clip(tmp_path / "a", seed=0)).name
    same = ClipModel(build_tiny_clip(tmp_path / "b", seed=0)).name
    other = ClipModel(build_tiny_clip(tmp_path / "c", seed=5)).name
    assert one.startswith("tiny-clip@") and len(one.split("@")[1]) == 12
    assert one == same and one != other


def test_missing_file_and_config_key_are_named(tmp_path: Path) -> None:
    path = build_tiny_clip(tmp_path / "clip")
    (path / "tokenizer.json").unlink()
    with pytest.raises(ModelLayoutError, match=r"lacks tokenizer\.json"):
        ClipModel(path)
    text = build_tiny_text(tmp_path / "text")
    (text / "config.json").write_text('{"kind": "text", "max_length": 8}', encoding="utf-8")
    with pytest.raises(ModelLayoutError, match="lacks 'embed_dim'"):
        TextModel(text)
