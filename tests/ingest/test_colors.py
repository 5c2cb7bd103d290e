"""Dominant colours in OKLab, CSS colour names and colour families."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pixsearch.ingest.colors import dominant_colors
from pixsearch.vocabulary.colors import (
    CSS_COLORS,
    FAMILIES,
    color_lab,
    family_named,
    family_of,
    hex_to_lab,
    oklab_to_srgb,
    srgb_to_oklab,
)


def test_oklab_matches_the_reference_values_and_round_trips() -> None:
    # Ottosson's reference: white is L=1, a=b=0; sRGB red is (0.628, 0.225, 0.126).
    assert np.allclose(srgb_to_oklab(np.array([1.0, 1.0, 1.0])), [1.0, 0.0, 0.0], atol=1e-4)
    assert np.allclose(hex_to_lab("#ff0000"), [0.6280, 0.2249, 0.1258], atol=1e-3)
    rgb = np.random.default_rng(0).random((100, 3))
    assert np.allclose(oklab_to_srgb(srgb_to_oklab(rgb)), rgb, atol=1e-6)


def test_a_plain_picture_has_one_colour() -> None:
    (only,) = dominant_colors(Image.new("RGB", (80, 60), "#aa3322"))
    assert only.hex == "#aa3322" and only.share == 1.0


def test_shares_follow_the_areas_largest_first() -> None:
    image = Image.new("RGB", (100, 100), "navy")
    image.paste((255, 215, 0), (0, 0, 100, 30))  # gold on the top 30 %
    image.paste((255, 255, 255), (0, 90, 100, 100))  # white on the bottom 10 %
    colors = dominant_colors(image)
    assert [c.hex for c in colors] == ["#000080", "#ffd700", "#ffffff"]
    assert [c.share for c in colors] == pytest.approx([0.6, 0.3, 0.1], abs=0.03)


def test_noise_does_not_split_a_colour_and_specks_are_dropped() -> None:
    rng = np.random.default_rng(1)
    pixels = np.clip(np.full((90, 90, 3), (40, 160, 60)) + rng.normal(0, 6, (90, 90, 3)), 0, 255)
    pixels[:3, :3] = (255, 0, 0)  # a speck of 0.1 %
    colors = dominant_colors(Image.fromarray(pixels.astype(np.uint8)))
    assert len(colors) == 1 and family_of(colors[0].lab) == "green"


def test_the_same_picture_gives_the_same_colours() -> None:
    rng = np.random.default_rng(2)
    image = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    assert dominant_colors(image) == dominant_colors(image.copy())
    assert len(dominant_colors(image)) <= 5


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("red", "red"), ("crimson", "red"), ("firebrick", "red"), ("orange", "orange"),
        ("coral", "orange"), ("gold", "yellow"), ("yellow", "yellow"), ("green", "green"),
        ("olivedrab", "green"), ("teal", "blue"), ("navy", "blue"), ("skyblue", "blue"),
        ("purple", "purple"), ("violet", "purple"), ("pink", "pink"), ("hotpink", "pink"),
        ("saddlebrown", "brown"), ("sienna", "brown"), ("tan", "brown"), ("black", "black"),
        ("white", "white"), ("ivory", "white"), ("gray", "grey"), ("silver", "grey"),
    ],
)  # fmt: skip
def test_families_of_css_colours(name: str, family: str) -> None:
    lab = color_lab(name)
    assert lab is not None and family_of(lab) == family


def test_every_css_colour_has_a_family() -> None:
    assert len(CSS_COLORS) == 148
    assert {family_of(hex_to_lab(value)) for value in CSS_COLORS.values()} == set(FAMILIES)


def test_colour_values() -> None:
    assert color_lab("#F00") == color_lab("#ff0000") == color_lab("Red") == color_lab(" red ")
    assert color_lab("bleu") is None and color_lab("#12") is None and color_lab("ff0000") is None
    assert family_named("Gray") == "grey" and family_named("crimson") == "red"
    assert family_named("#000080") == "blue" and family_named("blau") is None
