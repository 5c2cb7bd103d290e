"""Tokenisation, padding and pooling; the real all-MiniLM-L6-v2 when ../shared has it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pixsearch.runtimes.clip import ClipModel
from pixsearch.runtimes.text import TextModel, mean_pool, tokenize
from tests.runtimes.tinymodels import build_tiny_clip, build_tiny_text

MINILM = Path(__file__).resolve().parents[3] / "shared" / "models" / "all-MiniLM-L6-v2"


def test_sentence_tokens_pad_to_the_longest_not_the_files_128(tmp_path: Path) -> None:
    model = TextModel(build_tiny_text(tmp_path / "text", max_length=6))
    model.load()
    vocab = model.tokenizer.get_vocab()
    tokens = tokenize(model.tokenizer, ["A  dog", "a dog on the"])
    cls, sep, dog = vocab["[CLS]"], vocab["[SEP]"], vocab["dog"]
    assert tokens["input_ids"].tolist() == [
        [cls, vocab["a"], dog, sep, 0, 0],
        [cls, vocab["a"], dog, vocab["on"], vocab["the"], sep],
    ]
    assert tokens["attention_mask"].tolist() == [[1, 1, 1, 1, 0, 0], [1] * 6]
    assert tokens["input_ids"].dtype == np.int64
    long = tokenize(model.tokenizer, ["dog " * 50])["input_ids"]
    assert long.shape == (1, 6) and long[0, -1] == sep  # truncated at max_length, still closed


def test_clip_tokens_pad_to_the_context_with_the_configured_pad(tmp_path: Path) -> None:
    model = ClipModel(build_tiny_clip(tmp_path / "clip", context_length=16))
    model.textual.load()
    tokenizer = model.textual.tokenizer
    ids = tokenize(tokenizer, ["red dress"])["input_ids"][0].tolist()
    pad = tokenizer.token_to_id("<|pad|>")
    assert len(ids) == 16 and ids[4:] == [pad] * 12
    assert ids[:4] == [
        tokenizer.token_to_id(t) for t in ("<|startoftext|>", "red", "dress", "<|endoftext|>")
    ]


def test_mean_pool_ignores_padding_by_hand() -> None:
    hidden = np.array([[[1, 2], [3, 4], [100, 100]]], dtype=np.float32)
    np.testing.assert_allclose(mean_pool(hidden, np.array([[1, 1, 0]])), [[2, 3]])


def test_padding_does_not_change_a_texts_vector(tmp_path: Path) -> None:
    model = TextModel(build_tiny_text(tmp_path / "text"))
    alone = model.embed_texts(["a dog"])
    batched = model.embed_texts(["a dog on the beach with the red car", "a dog"])
    np.testing.assert_allclose(batched[1], alone[0], atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1, atol=1e-6)


@pytest.mark.skipif(not MINILM.is_dir(), reason=f"{MINILM} is absent")
def test_real_minilm_directory_reproduces_sentence_transformers() -> None:
    """The figures of the directory's README (sentence-transformers' own, to 4 decimals)."""
    model = TextModel(MINILM)
    assert (model.dim, model.max_length) == (384, 256)
    vectors = model.embed_texts(
        [
            "A dog is running through the snow.",
            "A puppy plays in a snowy field, jumping over drifts.",
            "The central bank raised interest rates by 25 basis points to fight inflation.",
        ]
    )
    similarity = vectors @ vectors.T
    assert similarity[0, 1] == pytest.approx(0.5943, abs=2e-4)
    assert similarity[0, 2] == pytest.approx(-0.0304, abs=2e-4)
    assert similarity[1, 2] == pytest.approx(0.0581, abs=2e-4)
