"""RapidOCR on rendered text: what is read, what is dropped, and the on/off setting."""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw, ImageFont

from pixsearch.runtimes.faces import DetectorUnavailable
from pixsearch.runtimes.ocr import TextReader, keep_lines, open_text_reader

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


@pytest.fixture(scope="module")
def reader() -> TextReader:
    return open_text_reader("on")


def rendered(lines: list[str], size: int = 40, angle: float = 0) -> Image.Image:
    image = Image.new("RGB", (720, 120 + 70 * len(lines)), "white")
    draw = ImageDraw.Draw(image)
    for index, line in enumerate(lines):
        draw.text((40, 60 + 70 * index), line, fill="black", font=ImageFont.truetype(FONT, size))
    return image.rotate(angle, expand=True, fillcolor="white") if angle else image


def test_reads_rendered_lines_in_order(reader: TextReader) -> None:
    assert reader.read(rendered(["Fresh Bread", "Open 7 days"])) == "Fresh Bread\nOpen 7 days"


def test_a_blank_picture_has_no_text(reader: TextReader) -> None:
    assert reader.read(Image.new("RGB", (300, 200), "white")) == ""


def test_slightly_rotated_text_is_still_read(reader: TextReader) -> None:
    assert "Lisbon" in reader.read(rendered(["Grand Hotel Lisbon"], angle=5))


def test_low_confidence_and_one_character_results_are_dropped() -> None:
    texts, scores = ["8", "Café  Central", "blur", "ok"], [0.81, 0.97, 0.3, 0.9]
    assert keep_lines(texts, scores) == ["Café Central", "ok"]


def test_off_by_default_and_names_the_setting() -> None:
    with pytest.raises(DetectorUnavailable, match="PIXSEARCH_OCR"):
        open_text_reader("off")
    with pytest.raises(DetectorUnavailable, match="unknown OCR setting"):
        open_text_reader("yes")
