"""The representations computed from pixels alone: size, orientation, perceptual hash."""

from __future__ import annotations

import functools
import hashlib

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from pixsearch.ingest.decode import MIME_TYPES, Decoded
from pixsearch.ingest.fetch import Fetched
from pixsearch.vocabulary.hashes import to_signed64

HASH_INPUT = 32  # side of the grey thumbnail the DCT runs on
HASH_SIDE = 8  # side of the low-frequency block kept: 64 bits


@functools.cache
def dct_matrix(size: int) -> NDArray[np.float64]:
    """The unnormalised DCT-II matrix: row k holds 2 cos(pi k (2n + 1) / 2N)."""
    k = np.arange(size, dtype=np.float64)[:, None]
    n = np.arange(size, dtype=np.float64)[None, :]
    matrix: NDArray[np.float64] = 2.0 * np.cos(np.pi * k * (2.0 * n + 1.0) / (2.0 * size))
    return matrix


def perceptual_hash(image: Image.Image) -> int:
    """The 64-bit DCT perceptual hash of `image`, as a signed 64-bit integer.

    The common pHash definition (as `imagehash.phash` computes it): grey levels, Lanczos
    resize to 32x32, 2-D DCT-II, the top-left 8x8 block of coefficients *including* the
    DC term, each bit set when its coefficient is above the block's median. Bits are
    packed row by row, the first coefficient as the most significant bit, so the unsigned
    value equals `int(str(imagehash.phash(image)), 16)`. It is stored signed so that it
    fits a BIGINT column; `hamming_distance` compares either form.
    """
    grey = image.convert("L").resize((HASH_INPUT, HASH_INPUT), Image.Resampling.LANCZOS)
    pixels = np.asarray(grey, dtype=np.float64)
    matrix = dct_matrix(HASH_INPUT)
    coefficients = (matrix @ pixels @ matrix.T)[:HASH_SIDE, :HASH_SIDE]
    bits = (coefficients > np.median(coefficients)).ravel()
    unsigned = int.from_bytes(np.packbits(bits).tobytes(), "big")
    return to_signed64(unsigned)


def orientation_of(width: int, height: int) -> str:
    """`landscape`, `portrait` or `square` (equal sides)."""
    if width > height:
        return "landscape"
    if width < height:
        return "portrait"
    return "square"


def describe(decoded: Decoded, fetched: Fetched) -> dict[str, object]:
    """The `images` columns computed from the pixels and bytes of one download."""
    width, height = decoded.width, decoded.height
    return {
        "width": width,
        "height": height,
        "aspect_ratio": width / height,
        "orientation": orientation_of(width, height),
        "phash": perceptual_hash(decoded.image),
        "content_type": MIME_TYPES.get(decoded.format),
        "byte_size": len(fetched.data),
        "sha256": hashlib.sha256(fetched.data).hexdigest(),
    }
