"""Turn downloaded bytes into an RGB picture, refusing what is not an image or too big.

The header is read first (`Image.open` reads nothing else) and the pixel count checked
before any pixel is decoded. Only the formats below are opened, so no other Pillow
plugin ever parses untrusted bytes. Pillow's own decompression-bomb limit
(`Image.MAX_IMAGE_PIXELS`, a process-wide setting this module leaves alone) still applies
on top of `max_pixels`: its error becomes the same DecodeError, citing our limit.
"""

from __future__ import annotations

import io
import re
import struct
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from pixsearch.errors import DecodeError

MIME_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
}
ORIENTATION_TAG = 0x0112
SWAPS_AXES = frozenset({5, 6, 7, 8})  # orientations that rotate by 90 degrees
TRANSPOSES = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
WHITE = (255, 255, 255)
# Errors Pillow's decoders raise on corrupt or truncated data.
CORRUPT = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, zlib.error)
# Signatures, to name what Pillow could not open: a damaged image of a supported format,
# or a format we recognise but do not decode.
SIGNATURES = (
    (0, b"\xff\xd8\xff", "JPEG"),
    (0, b"\x89PNG\r\n\x1a\n", "PNG"),
    (0, b"GIF87a", "GIF"),
    (0, b"GIF89a", "GIF"),
    (8, b"WEBP", "WEBP"),
    (0, b"BM", "BMP"),
    (0, b"II*\x00", "TIFF"),
    (0, b"MM\x00*", "TIFF"),
    (0, b"%PDF", "PDF"),
    (0, b"8BPS", "PSD"),
    (0, b"\x00\x00\x01\x00", "ICO"),
    (0, b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (0, b"\xff\x4f\xff\x51", "JPEG 2000"),
    (0, b"\xff\x0a", "JPEG XL"),
    (0, b"\x00\x00\x00\x0cJXL ", "JPEG XL"),
    (4, b"ftypavif", "AVIF"),
    (4, b"ftypheic", "HEIC"),
    (4, b"ftypheix", "HEIC"),
    (4, b"ftypmif1", "HEIF"),
)


@dataclass
class Decoded:
    """A decoded RGB picture, with the full-resolution size after EXIF orientation.

    `image` may be smaller than `width` x `height` when it was decoded in draft mode.
    """

    image: Image.Image
    width: int
    height: int
    format: str


def sniff_format(data: bytes) -> str | None:
    """The name of the image format `data` starts like, if any."""
    head = data[:32]
    if head.lstrip().lower().startswith((b"<svg", b"<?xml")):
        return "SVG" if b"<svg" in data[:4096].lower() else None
    return next((name for at, magic, name in SIGNATURES if head[at:].startswith(magic)), None)


def too_many_pixels(size: str, max_pixels: int) -> DecodeError:
    return DecodeError(
        f"too many pixels: {size} is more than {max_pixels} (PIXSEARCH_MAX_PIXELS)",
        cause="too_many_pixels",
    )


def bomb_error(exc: Image.DecompressionBombError, max_pixels: int) -> DecodeError:
    """Pillow's own limit refused the image: say so in terms of ours."""
    found = re.search(r"\((\d+) pixels\)", str(exc))
    return too_many_pixels(f"{found[1]} pixels" if found else "the image", max_pixels)


def open_header(data: bytes, max_pixels: int) -> Image.Image:
    """Open `data` reading only its header; DecodeError if it is no supported image."""
    try:
        return Image.open(io.BytesIO(data), formats=list(MIME_TYPES))
    except Image.DecompressionBombError as exc:
        raise bomb_error(exc, max_pixels) from None
    except UnidentifiedImageError:
        sniffed = sniff_format(data)
        if sniffed in MIME_TYPES:
            raise DecodeError(f"corrupt or truncated {sniffed} image header") from None
        if sniffed is not None:
            raise DecodeError(f"unsupported image format {sniffed}") from None
        raise DecodeError(f"not an image ({len(data)} bytes starting {data[:8]!r})") from None
    except CORRUPT as exc:
        raise DecodeError(f"corrupt image header: {exc}") from None


def orientation_of_exif(image: Image.Image) -> int:
    """The EXIF orientation (1-8) of `image`; 1 when absent or unreadable."""
    try:
        value = image.getexif().get(ORIENTATION_TAG, 1)
    except CORRUPT:
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def apply_orientation(image: Image.Image, orientation: int) -> Image.Image:
    """`image` turned upright for its EXIF orientation (the table ImageOps.exif_transpose uses).

    Done here rather than by exif_transpose because the picture may have been reduced,
    and the orientation was read from the original header already.
    """
    method = TRANSPOSES.get(orientation)
    return image if method is None else image.transpose(method)


def reduce_to(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """`image` shrunk by the largest whole factor that keeps it at least `size`."""
    factor = min(image.width // size[0], image.height // size[1])
    return image.reduce(factor) if factor >= 2 else image


def to_rgb(image: Image.Image) -> Image.Image:
    """`image` as 8-bit RGB: alpha composited on white, 16-bit and float scaled down."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
        return Image.fromarray(to_8bit(np.asarray(image)), "L").convert("RGB")
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode in ("P", "L", "RGB") and "transparency" in image.info
    )
    if not has_alpha:
        return image.convert("RGB")
    rgba = image.convert("RGBA")
    canvas = Image.new("RGB", rgba.size, WHITE)
    canvas.paste(rgba, mask=rgba.getchannel("A"))
    return canvas


def to_8bit(pixels: NDArray[Any]) -> NDArray[np.uint8]:
    """16-bit (or float 0..1) grey levels scaled to 0..255."""
    if pixels.dtype.kind == "f":
        levels = np.nan_to_num(pixels.astype(np.float64)) * 255.0
    elif pixels.dtype != np.uint16 and pixels.size and int(pixels.max()) <= 255:
        levels = pixels.astype(np.float64)  # 32-bit storage of 8-bit levels
    else:
        levels = pixels.astype(np.float64) / 256.0
    scaled: NDArray[np.uint8] = np.clip(levels, 0, 255).astype(np.uint8)
    return scaled


def decode_image(
    data: bytes, *, max_pixels: int, draft_size: tuple[int, int] | None = None
) -> Decoded:
    """Decode `data` to RGB, refusing images over `max_pixels` before decoding pixels.

    With `draft_size`, the picture may be decoded smaller, but never smaller than
    `draft_size` (JPEG draft mode, or a whole-factor reduction for other formats);
    `width` and `height` are always the full-resolution size.
    """
    image = open_header(data, max_pixels)
    fmt = image.format or "unknown"
    width, height = image.size
    if width < 1 or height < 1:
        raise DecodeError(f"empty image ({width}x{height} pixels)")
    if width * height > max_pixels:
        raise too_many_pixels(f"{width}x{height}", max_pixels)
    orientation = orientation_of_exif(image)
    stored = draft_size
    if orientation in SWAPS_AXES:
        width, height = height, width
        stored = None if draft_size is None else (draft_size[1], draft_size[0])
    try:
        if stored is not None and fmt == "JPEG":
            image.draft("RGB", stored)
        image.load()
        if stored is not None and fmt != "JPEG":
            image = reduce_to(image, stored)
        return Decoded(to_rgb(apply_orientation(image, orientation)), width, height, fmt)
    except Image.DecompressionBombError as exc:
        raise bomb_error(exc, max_pixels) from None
    except CORRUPT as exc:
        raise DecodeError(f"corrupt or truncated {fmt} image: {exc}") from None
