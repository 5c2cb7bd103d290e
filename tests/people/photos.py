"""Photographs with known identities, for the people tests and bench/people.py.

The one person is scikit-image's `astronaut()` (Eileen Collins, a NASA photo in the public
domain), transformed the way catalogue copies differ: flipped, scaled, recompressed,
darkened, brightened, cropped, rotated a little. Strangers are the `camera()` picture and
the 100 faces of `lfw_subset()` (25 x 25 grey crops of Labeled Faces in the Wild, shown
upscaled six times on a grey canvas). Group photos are composites: several of these
pasted on one canvas, with or without the astronaut.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

# The astronaut's face in the 512 x 512 original, as BlazeFace finds it (x, y, w, h).
ASTRONAUT_FACE = (173, 68, 106, 106)


def astronaut() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.astronaut()).convert("RGB")


def camera() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.camera()).convert("RGB")


def lfw_faces() -> list[Image.Image]:
    """The 100 LFW faces of scikit-image, each 150 px on a 300 px grey canvas."""
    from skimage import data

    faces = data.lfw_subset()[:100]
    out = []
    for face in faces:
        grey = Image.fromarray((face * 255).astype(np.uint8)).convert("RGB")
        canvas = Image.new("RGB", (300, 300), (128, 128, 128))
        canvas.paste(grey.resize((150, 150), Image.Resampling.BICUBIC), (75, 75))
        out.append(canvas)
    return out


def recompress(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def crop_face(image: Image.Image, pad: float) -> Image.Image:
    """The astronaut's face with `pad` face sizes of margin on each side."""
    x, y, w, h = ASTRONAUT_FACE
    return image.crop(
        (int(x - pad * w), int(y - pad * h), int(x + w * (1 + pad)), int(y + h * (1 + pad)))
    )


def scaled(image: Image.Image, factor: float) -> Image.Image:
    size = (round(image.width * factor), round(image.height * factor))
    return image.resize(size, Image.Resampling.LANCZOS)


# Copies of the astronaut, by what was done to them.
TRANSFORMS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "original": lambda im: im,
    "flipped": ImageOps.mirror,
    "scaled-60": lambda im: scaled(im, 0.6),
    "scaled-40": lambda im: scaled(im, 0.4),
    "scaled-150": lambda im: scaled(im, 1.5),
    "jpeg-q30": lambda im: recompress(im, 30),
    "jpeg-q10": lambda im: recompress(im, 10),
    "darkened-50": lambda im: ImageEnhance.Brightness(im).enhance(0.5),
    "darkened-30": lambda im: ImageEnhance.Brightness(im).enhance(0.3),
    "brightened-140": lambda im: ImageEnhance.Brightness(im).enhance(1.4),
    "low-contrast": lambda im: ImageEnhance.Contrast(im).enhance(0.5),
    "grey": lambda im: ImageOps.grayscale(im).convert("RGB"),
    "cropped-face": lambda im: crop_face(im, 0.5),
    "cropped-tight": lambda im: crop_face(im, 0.1),
    "cropped-upper": lambda im: im.crop((100, 0, 400, 300)),
    "rotated-8": lambda im: im.rotate(8, resample=Image.Resampling.BICUBIC),
    "flipped-dark-small": lambda im: scaled(
        ImageEnhance.Brightness(ImageOps.mirror(im)).enhance(0.6), 0.5
    ),
    "blurred": lambda im: im.filter(ImageFilter.GaussianBlur(2)),
}


def astronaut_copies() -> dict[str, Image.Image]:
    original = astronaut()
    return {name: transform(original) for name, transform in TRANSFORMS.items()}


def group(members: list[Image.Image], cell: int = 360) -> Image.Image:
    """The pictures in a grid two wide, each fitted into a `cell` square: a group photo.

    (Side by side in one row, BlazeFace's 192 px input makes the faces too small to find.)
    """
    rows = (len(members) + 1) // 2
    canvas = Image.new("RGB", (2 * cell, rows * cell), (255, 255, 255))
    for index, member in enumerate(members):
        fitted = scaled(member, (cell - 20) / max(member.size))
        canvas.paste(fitted, ((index % 2) * cell + 10, (index // 2) * cell + 10))
    return canvas


def jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()
