"""Image preprocessing as pure functions, driven by the model's own configuration.

They follow the torchvision transforms CLIP was trained with: resize the shortest side
(bicubic), crop the centre square, scale to [0, 1], subtract the mean, divide by the std.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image

RESAMPLING = {method.name.lower(): method for method in Image.Resampling}
# Past this aspect ratio the long side is cropped before resizing: the centre square is all
# that is kept anyway, and a 10 x 10,000 banner must not become a 224 x 224,000 image.
MAX_ASPECT = 4.0


@dataclass(frozen=True)
class PreprocessConfig:
    """What an image model expects: square input size, channel mean and std, how to resize."""

    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bicubic"
    resize_mode: str = "shortest"  # or "squash": resize to a square, ignoring aspect


def resize_shortest(
    image: Image.Image, size: int, resample: Image.Resampling = Image.Resampling.BICUBIC
) -> Image.Image:
    """Scale `image` so that its shorter side is `size`, keeping the aspect ratio."""
    width, height = image.size
    short, long = min(width, height), max(width, height)
    if short == size:
        return image
    # As torchvision does: the long side is truncated, not rounded.
    new_long = int(size * long / short)
    new_size = (size, new_long) if width <= height else (new_long, size)
    return image.resize(new_size, resample=resample)


def center_crop(image: Image.Image, size: int) -> Image.Image:
    """The centred `size` x `size` square of `image` (which must be at least that large)."""
    width, height = image.size
    if width < size or height < size:
        raise ValueError(f"cannot crop {size}x{size} from a {width}x{height} image")
    left = round((width - size) / 2.0)
    top = round((height - size) / 2.0)
    return image.crop((left, top, left + size, top + size))


def to_normalized_array(
    image: Image.Image, mean: Sequence[float], std: Sequence[float]
) -> NDArray[np.float32]:
    """RGB pixels as a [3, H, W] float32 array, scaled to [0, 1] then standardised."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    pixels = np.asarray(rgb, dtype=np.float32) / np.float32(255.0)
    pixels -= np.asarray(mean, dtype=np.float32)
    pixels /= np.asarray(std, dtype=np.float32)
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))


def limit_aspect(image: Image.Image, max_ratio: float) -> Image.Image:
    """The centre of `image`, cropped along its long side to at most `max_ratio` : 1."""
    width, height = image.size
    limit = int(min(width, height) * max_ratio)
    if max(width, height) <= limit:
        return image
    if width > height:
        left = (width - limit) // 2
        return image.crop((left, 0, left + limit, height))
    top = (height - limit) // 2
    return image.crop((0, top, width, top + limit))


def preprocess_clip(image: Image.Image, config: PreprocessConfig) -> NDArray[np.float32]:
    """The [3, S, S] input of a CLIP image tower for `image`."""
    resample = RESAMPLING[config.interpolation.lower()]
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    size = config.image_size
    if config.resize_mode == "squash":
        square = rgb.resize((size, size), resample=resample)
    elif config.resize_mode == "shortest":
        square = center_crop(resize_shortest(limit_aspect(rgb, MAX_ASPECT), size, resample), size)
    else:
        raise ValueError(f"unknown resize_mode {config.resize_mode!r}")
    return to_normalized_array(square, config.mean, config.std)
