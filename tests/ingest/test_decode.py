"""Decoding: every supported format to RGB, orientation, draft mode, and what is refused."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image

from pixsearch.errors import DecodeError
from pixsearch.ingest.decode import decode_image
from tests.imageserver import (
    encode,
    exif_rotated_jpeg,
    make_bomb_png,
    make_image,
    make_jpeg,
    make_picture,
    make_png,
    truncated_jpeg,
)

LIMIT = 100_000_000


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"])
def test_every_supported_format_decodes_to_rgb(fmt: str) -> None:
    decoded = decode_image(make_image(90, 70, 3, fmt), max_pixels=LIMIT)
    assert (decoded.format, decoded.width, decoded.height) == (fmt, 90, 70)
    assert decoded.image.mode == "RGB"
    assert decoded.image.size == (90, 70)
    original = np.asarray(make_picture(90, 70, 3), dtype=np.int16)
    error = np.abs(np.asarray(decoded.image, dtype=np.int16) - original).mean()
    assert error < (0.01 if fmt in ("PNG", "BMP", "TIFF") else 20)


def test_transparency_is_composited_on_white() -> None:
    rgba = Image.new("RGBA", (4, 2), (255, 0, 0, 255))
    rgba.putpixel((0, 0), (0, 0, 0, 0))
    rgba.putpixel((1, 0), (0, 0, 0, 128))
    image = decode_image(encode(rgba, "PNG"), max_pixels=LIMIT).image
    assert image.getpixel((0, 0)) == (255, 255, 255)
    assert image.getpixel((1, 0)) == pytest.approx((127, 127, 127), abs=2)
    assert image.getpixel((2, 0)) == (255, 0, 0)


def test_palette_transparency_and_grey_alpha_are_composited_on_white() -> None:
    palette = Image.new("P", (2, 1))
    palette.putpalette([0, 0, 255, 0, 0, 0] + [0] * 762)
    palette.putpixel((1, 0), 1)
    gif = encode(palette, "GIF", transparency=1)
    assert decode_image(gif, max_pixels=LIMIT).image.getpixel((1, 0)) == (255, 255, 255)
    assert decode_image(gif, max_pixels=LIMIT).image.getpixel((0, 0)) == (0, 0, 255)
    grey_alpha = Image.new("LA", (1, 1), (0, 0))
    assert decode_image(encode(grey_alpha, "PNG"), max_pixels=LIMIT).image.getpixel((0, 0)) == (
        255,
        255,
        255,
    )


@pytest.mark.parametrize("mode", ["L", "1", "P", "RGBA", "LA", "I;16"])
def test_png_modes_become_rgb(mode: str) -> None:
    source = Image.new(mode, (8, 8))
    image = decode_image(encode(source, "PNG"), max_pixels=LIMIT).image
    assert (image.mode, image.size) == ("RGB", (8, 8))


def test_sixteen_bit_grey_is_scaled_not_clipped() -> None:
    levels = np.full((4, 4), 32768, dtype=np.uint16)
    levels[0, 0] = 65535
    png = encode(Image.fromarray(levels), "PNG")
    image = decode_image(png, max_pixels=LIMIT).image
    assert image.getpixel((1, 1)) == (128, 128, 128)
    assert image.getpixel((0, 0)) == (255, 255, 255)


def test_cmyk_jpeg_becomes_rgb() -> None:
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # red ink
    image = decode_image(encode(cmyk, "JPEG"), max_pixels=LIMIT).image
    red, green, blue = image.getpixel((8, 8))
    assert red > 200 and green < 60 and blue < 60


def test_only_the_first_gif_frame_is_decoded() -> None:
    frames = [Image.new("RGB", (10, 10), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100)
    image = decode_image(out.getvalue(), max_pixels=LIMIT).image
    assert image.getpixel((5, 5)) == (255, 0, 0)


def test_exif_orientation_is_applied() -> None:
    decoded = decode_image(exif_rotated_jpeg(), max_pixels=LIMIT)
    assert (decoded.width, decoded.height) == (40, 60)
    assert decoded.image.size == (40, 60)


def test_orientation_six_turns_the_left_edge_to_the_top() -> None:
    halves = Image.new("RGB", (64, 32), (255, 255, 255))
    halves.paste((0, 0, 0), (0, 0, 32, 32))  # left half black as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    image = decode_image(encode(halves, "JPEG", exif=exif.tobytes()), max_pixels=LIMIT).image
    assert image.size == (32, 64)
    assert sum(image.getpixel((16, 8))) < 60  # top is black
    assert sum(image.getpixel((16, 56))) > 700  # bottom is white


def test_draft_mode_decodes_small_but_reports_the_full_size() -> None:
    jpeg = make_jpeg(2000, 1500, 4)
    decoded = decode_image(jpeg, max_pixels=LIMIT, draft_size=(256, 256))
    assert (decoded.width, decoded.height) == (2000, 1500)
    assert decoded.image.size == (500, 375)  # the largest JPEG scale (1/4) still >= 256
    assert decode_image(jpeg, max_pixels=LIMIT).image.size == (2000, 1500)


def test_draft_mode_follows_the_orientation() -> None:
    jpeg = make_jpeg(1600, 800, 5, orientation=6)
    decoded = decode_image(jpeg, max_pixels=LIMIT, draft_size=(100, 400))
    assert (decoded.width, decoded.height) == (800, 1600)
    assert decoded.image.size == (200, 400)  # scale 1/4: both sides still cover the draft


def test_other_formats_are_reduced_by_whole_factors() -> None:
    decoded = decode_image(make_png(1000, 600, 6), max_pixels=LIMIT, draft_size=(256, 256))
    assert (decoded.width, decoded.height) == (1000, 600)
    assert decoded.image.size == (500, 300)


def test_a_decompression_bomb_is_refused_from_its_header() -> None:
    bomb = make_bomb_png()  # 30000 x 30000 declared, ~100 KB
    assert len(bomb) < 200_000
    started = time.perf_counter()
    refused = r"^too many pixels: 900000000 pixels is more than 100000000 \(PIXSEARCH_MAX_PIXELS\)$"
    with pytest.raises(DecodeError, match=refused):
        decode_image(bomb, max_pixels=LIMIT)
    assert time.perf_counter() - started < 0.2


def test_the_configured_pixel_limit_is_checked_before_decoding() -> None:
    big = make_bomb_png(12_000)  # 144 MP: under Pillow's own error limit, over ours
    started = time.perf_counter()
    with (
        pytest.warns(Image.DecompressionBombWarning),
        pytest.raises(
            DecodeError, match=r"^too many pixels: 12000x12000 is more than 100000000 \(PIXSEARCH"
        ),
    ):
        decode_image(big, max_pixels=LIMIT)
    assert time.perf_counter() - started < 0.2
    with pytest.raises(
        DecodeError, match=r"^too many pixels: 64x64 is more than 4095 \(PIXSEARCH_MAX_PIXELS\)$"
    ):
        decode_image(make_png(64, 64, 1), max_pixels=4095)
    assert decode_image(make_png(64, 64, 1), max_pixels=4096).width == 64


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (truncated_jpeg(), "corrupt or truncated JPEG image"),
        (make_png(300, 200, 2)[:-2000], "corrupt or truncated PNG image"),
        (make_png(30, 20, 2)[:30], "^corrupt or truncated PNG image header$"),
        (b"GIF89a\x01", "^corrupt or truncated GIF image header$"),
        (b"<!doctype html><html><body>hello</body></html>", r"^not an image \(46 bytes starting"),
        (b"", r"^not an image \(0 bytes"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "^unsupported image format PDF$"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"/>', "^unsupported image format SVG$"),
        (b"\x00\x00\x00\x1cftypavif" + b"\x00" * 20, "^unsupported image format AVIF$"),
        (encode(Image.new("RGB", (16, 16)), "ICO"), "^unsupported image format ICO$"),
    ],
)
def test_what_cannot_be_decoded_is_named(data: bytes, error: str) -> None:
    with pytest.raises(DecodeError, match=error):
        decode_image(data, max_pixels=LIMIT)


def test_formats_outside_the_list_are_not_opened() -> None:
    # Pillow reads these, but they are not on the contract's list.
    for fmt in ("PCX", "TGA", "PPM"):
        with pytest.raises(DecodeError, match="not an image"):
            decode_image(encode(Image.new("RGB", (8, 8)), fmt), max_pixels=LIMIT)
