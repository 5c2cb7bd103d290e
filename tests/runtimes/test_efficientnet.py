"""EfficientNet-Lite3 from its package: one pass gives a unit vector and class probabilities."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from pixsearch.runtimes.efficientnet import (
    EMBED_DIM,
    INPUT_SIDE,
    N_CLASSES,
    EfficientNetLite,
    centre_square,
    open_classifier,
)
from pixsearch.runtimes.faces import DetectorUnavailable
from tests.conftest import SHARED

CLOTHING = SHARED / "data" / "clothing"


@pytest.fixture(scope="module")
def model() -> EfficientNetLite:
    return EfficientNetLite()


def photo(label: str, index: int = 0) -> Image.Image:
    with (CLOTHING / "labels.csv").open() as file:
        rows = [row for row in csv.DictReader(file) if row["label"] == label]
    return Image.open(CLOTHING / rows[index]["path"]).convert("RGB")


def test_centre_square_keeps_the_middle_of_a_wide_picture() -> None:
    image = Image.new("RGB", (300, 100), "red")
    image.paste((0, 0, 255), (100, 0, 200, 100))  # blue middle third
    pixels = centre_square(image, INPUT_SIDE)
    assert pixels.shape == (1, INPUT_SIDE, INPUT_SIDE, 3) and pixels.dtype == np.uint8
    assert (pixels[0, :, :, 2] > 200).all() and (pixels[0, :, :, 0] < 50).all()


def test_one_pass_gives_a_unit_vector_and_probabilities(model: EfficientNetLite) -> None:
    seen = model.see(photo("shoes"))
    assert seen.vector.shape == (EMBED_DIM,) and abs(float(np.linalg.norm(seen.vector)) - 1) < 1e-5
    assert seen.probabilities.shape == (N_CLASSES,)
    assert abs(float(seen.probabilities.sum()) - 1) < 1e-4
    assert model.name.startswith("efficientnet-lite3@") and len(model.labels) == N_CLASSES


def test_shoes_are_classified_as_footwear_and_look_alike(model: EfficientNetLite) -> None:
    shoes = [model.see(photo("shoes", index)) for index in range(3)]
    tee = model.see(photo("t-shirt"))
    top = model.labels[int(np.argmax(shoes[0].probabilities))]
    assert top.split(",")[0] in ("Loafer", "sandal", "clog", "running shoe", "cowboy boot")
    same = float(shoes[0].vector @ shoes[1].vector)
    other = float(shoes[0].vector @ tee.vector)
    assert same > other
    again = model.see(photo("shoes").resize((200, 266)))  # a smaller copy: nearly the same
    assert float(again.vector @ shoes[0].vector) > model.image_thresholds["~~~"]


def test_threads_each_get_their_own_interpreter(model: EfficientNetLite) -> None:
    from concurrent.futures import ThreadPoolExecutor

    image = photo("hat")
    expected = model.see(image).vector
    with ThreadPoolExecutor(4) as pool:
        vectors = list(pool.map(lambda _: model.see(image).vector, range(8)))
    assert all(np.allclose(vector, expected) for vector in vectors)


def test_classifier_choice() -> None:
    with pytest.raises(DetectorUnavailable, match="PIXSEARCH_CLASSIFIER=off"):
        open_classifier("off")
    with pytest.raises(DetectorUnavailable, match="unknown classifier"):
        open_classifier("resnet")
    assert isinstance(open_classifier("efficientnet-lite3"), EfficientNetLite)
