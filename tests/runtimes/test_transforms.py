"""CLIP preprocessing against a hand computation."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pixsearch.runtimes.transforms import PreprocessConfig, limit_aspect, preprocess_clip

MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)


def test_crop_and_normalise_by_hand() -> None:
    """A 6 x 4 image at size 4: no resize, the centre 4 x 4 (columns 1-4), then (x/255-m)/s."""
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, size=(4, 6, 3), dtype=np.uint8)
    result = preprocess_clip(Image.fromarray(pixels), PreprocessConfig(4, MEAN, STD))
    assert result.shape == (3, 4, 4) and result.dtype == np.float32
    for channel in range(3):
        for y in range(4):
            for x in range(4):
                expected = (pixels[y, x + 1, channel] / 255 - MEAN[channel]) / STD[channel]
                assert result[channel, y, x] == pytest.approx(expected, abs=1e-5)


def test_uniform_picture_of_any_shape_gives_its_colour() -> None:
    image = Image.new("RGB", (300, 100), (255, 0, 128))
    result = preprocess_clip(image, PreprocessConfig(224, MEAN, STD))
    expected = [
        (255 / 255 - MEAN[0]) / STD[0],
        (0 - MEAN[1]) / STD[1],
        (128 / 255 - MEAN[2]) / STD[2],
    ]
    assert result.shape == (3, 224, 224)
    np.testing.assert_allclose(result.reshape(3, -1).mean(axis=1), expected, atol=1e-4)
    np.testing.assert_allclose(result.reshape(3, -1).std(axis=1), 0, atol=1e-4)


def test_grey_and_rgba_pictures_become_rgb() -> None:
    grey = preprocess_clip(Image.new("L", (10, 10), 51), PreprocessConfig(8, MEAN, STD))
    assert grey[1, 0, 0] == pytest.approx((0.2 - MEAN[1]) / STD[1], abs=1e-5)
    rgba_image = Image.new("RGBA", (10, 10), (0, 0, 255, 10))
    rgba = preprocess_clip(rgba_image, PreprocessConfig(8, MEAN, STD))
    assert rgba[2, 0, 0] == pytest.approx((1 - MEAN[2]) / STD[2], abs=1e-5)


def test_left_half_black_right_half_white_stays_put() -> None:
    """Orientation: channel-first, rows then columns, the crop centred."""
    pixels = np.zeros((8, 16, 3), dtype=np.uint8)
    pixels[:, 8:] = 255
    result = preprocess_clip(Image.fromarray(pixels), PreprocessConfig(8, (0, 0, 0), (1, 1, 1)))
    np.testing.assert_array_equal(result[0, :, :4], 0)
    np.testing.assert_array_equal(result[0, :, 4:], 1)


def test_squash_keeps_everything_and_banners_are_cut() -> None:
    pixels = np.zeros((4, 8, 3), dtype=np.uint8)
    pixels[:, :4] = 255
    squashed = preprocess_clip(
        Image.fromarray(pixels),
        PreprocessConfig(4, (0, 0, 0), (1, 1, 1), interpolation="nearest", resize_mode="squash"),
    )
    np.testing.assert_array_equal(squashed[0, :, :2], 1)
    np.testing.assert_array_equal(squashed[0, :, 2:], 0)
    assert limit_aspect(Image.new("RGB", (10, 10_000)), 4.0).size == (10, 40)
    with pytest.raises(ValueError, match="resize_mode"):
        preprocess_clip(Image.fromarray(pixels), PreprocessConfig(4, MEAN, STD, resize_mode="pad"))
