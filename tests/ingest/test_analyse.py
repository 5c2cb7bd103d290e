"""Size, orientation and the perceptual hash: definitions, and robustness on real photos."""

from __future__ import annotations

import hashlib
import io
import itertools
import statistics
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from pixsearch.ingest.analyse import dct_matrix, describe, orientation_of, perceptual_hash
from pixsearch.ingest.decode import decode_image
from pixsearch.ingest.fetch import Fetched
from pixsearch.vocabulary.hashes import hamming_distance, to_signed64
from tests.imageserver import encode, exif_rotated_jpeg, make_jpeg, make_picture, make_png

PHOTOS = Path(__file__).resolve().parents[3] / "shared" / "data" / "clothing" / "images"
INT64 = (-(2**63), 2**63 - 1)


def shapes() -> Image.Image:
    picture = Image.new("RGB", (160, 120), (255, 255, 255))
    draw = ImageDraw.Draw(picture)
    draw.rectangle((20, 30, 90, 100), fill=(200, 30, 30))
    draw.ellipse((80, 10, 150, 80), fill=(20, 40, 180))
    return picture


def test_phash_is_the_common_definition() -> None:
    # imagehash.phash(shapes()) with ImageHash 4.3.2 and Pillow 13.0 is ee4881b1c136b73e.
    assert perceptual_hash(shapes()) == to_signed64(0xEE4881B1C136B73E)


def test_the_dct_matrix_is_dct_ii() -> None:
    signal = np.random.default_rng(0).normal(size=8)
    expected = [
        2 * sum(signal[n] * np.cos(np.pi * k * (2 * n + 1) / 16) for n in range(8))
        for k in range(8)
    ]
    assert dct_matrix(8) @ signal == pytest.approx(expected)


def test_phash_is_a_signed_64_bit_integer() -> None:
    hashes = [perceptual_hash(make_picture(64, 48, seed)) for seed in range(20)]
    assert all(INT64[0] <= value <= INT64[1] for value in hashes)
    assert any(value < 0 for value in hashes)  # the top bit is used


def test_hamming_distance_works_on_signed_and_unsigned_forms() -> None:
    assert hamming_distance(0, -1) == 64
    assert hamming_distance(to_signed64(2**64 - 1), 0) == 64
    assert hamming_distance(-(2**63), 2**63) == 0
    assert hamming_distance(0b1011, 0b0001) == 2
    value = 0xEE4881B1C136B73E
    assert hamming_distance(value, to_signed64(value)) == 0


def recompressed(picture: Image.Image, scale: float = 0.5, quality: int = 60) -> Image.Image:
    size = (round(picture.width * scale), round(picture.height * scale))
    small = picture.resize(size, Image.Resampling.LANCZOS)
    return Image.open(io.BytesIO(encode(small, "JPEG", quality=quality))).convert("RGB")


def test_generated_pictures_survive_resizing_and_recompression_and_differ_by_seed() -> None:
    pictures = [make_picture(320, 240, seed) for seed in range(16)]
    hashes = [perceptual_hash(picture) for picture in pictures]
    for picture, value in zip(pictures, hashes, strict=True):
        assert hamming_distance(value, perceptual_hash(recompressed(picture))) <= 4
    apart = [hamming_distance(a, b) for a, b in itertools.combinations(hashes, 2)]
    assert statistics.median(apart) > 20


def photos(count: int) -> list[Path]:
    if not PHOTOS.is_dir():
        pytest.skip(f"real photos not found at {PHOTOS}")
    found = sorted(PHOTOS.rglob("*.jpg"))
    if len(found) < count:
        pytest.skip(f"fewer than {count} photos at {PHOTOS}")
    step = len(found) // count
    return found[::step][:count]


def test_real_photos_survive_resizing_and_recompression() -> None:
    for path in photos(40):
        picture = Image.open(path).convert("RGB")
        value = perceptual_hash(picture)
        assert hamming_distance(value, perceptual_hash(recompressed(picture))) <= 6, path
        assert hamming_distance(value, perceptual_hash(recompressed(picture, 0.25, 40))) <= 8


def test_different_real_photos_are_far_apart() -> None:
    hashes = [perceptual_hash(Image.open(path).convert("RGB")) for path in photos(40)]
    apart = [hamming_distance(a, b) for a, b in itertools.combinations(hashes, 2)]
    assert statistics.median(apart) > 20
    assert len(set(hashes)) == len(hashes)


@pytest.mark.parametrize(
    ("width", "height", "orientation"),
    [(640, 480, "landscape"), (480, 640, "portrait"), (500, 500, "square"), (2, 1, "landscape")],
)
def test_orientation_of(width: int, height: int, orientation: str) -> None:
    assert orientation_of(width, height) == orientation


def test_describe_gives_exactly_the_image_columns() -> None:
    data = make_png(300, 200, 9)
    # The server's header is ignored: the type comes from the decoded format.
    fetched = Fetched(data, "text/html", "http://images.example/a.png")
    values = describe(decode_image(data, max_pixels=10**8), fetched)
    assert values == {
        "width": 300,
        "height": 200,
        "aspect_ratio": 1.5,
        "orientation": "landscape",
        "phash": perceptual_hash(make_picture(300, 200, 9)),
        "content_type": "image/png",
        "byte_size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def test_describe_uses_the_size_after_orientation_and_draft() -> None:
    data = exif_rotated_jpeg()
    values = describe(
        decode_image(data, max_pixels=10**8), Fetched(data, None, "http://x.example/")
    )
    assert (values["width"], values["height"], values["orientation"]) == (40, 60, "portrait")
    assert values["aspect_ratio"] == pytest.approx(40 / 60)
    big = make_jpeg(1600, 1200, 11)
    drafted = decode_image(big, max_pixels=10**8, draft_size=(256, 256))
    full = decode_image(big, max_pixels=10**8)
    described = describe(drafted, Fetched(big, "image/jpeg", "http://x.example/"))
    assert (described["width"], described["height"]) == (1600, 1200)
    assert described["content_type"] == "image/jpeg"
    # The hash of the draft decode is the hash of the full decode, within a bit or two.
    assert hamming_distance(int(str(described["phash"])), perceptual_hash(full.image)) <= 2
