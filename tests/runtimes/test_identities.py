"""dlib's face descriptor on real photographs, behind the runtime layer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pixsearch.config import Settings
from pixsearch.runtimes.faces import BlazeFaceDetector
from pixsearch.runtimes.hub import list_models
from pixsearch.runtimes.identities import MIN_IDENTITY_SIDE, FaceIdentifier, distances
from pixsearch.runtimes.registry import open_models
from tests.people import photos


@pytest.fixture(scope="module")
def identifier() -> FaceIdentifier:
    return FaceIdentifier()


@pytest.fixture(scope="module")
def detector() -> BlazeFaceDetector:
    return BlazeFaceDetector()


def descriptor(
    identifier: FaceIdentifier, detector: BlazeFaceDetector, picture: object
) -> np.ndarray:
    faces = detector.detect_faces(picture)  # type: ignore[arg-type]
    (vector,) = identifier.describe(picture, faces[:1])  # type: ignore[arg-type]
    assert vector is not None
    return vector


def test_same_person_is_close_and_a_stranger_far(
    identifier: FaceIdentifier, detector: BlazeFaceDetector
) -> None:
    copies = photos.astronaut_copies()
    reference = descriptor(identifier, detector, copies["original"])
    assert reference.shape == (128,) and reference.dtype == np.float32
    same = [descriptor(identifier, detector, copies[name]) for name in ("flipped", "jpeg-q30")]
    stranger = descriptor(identifier, detector, photos.camera())
    near = distances(np.stack(same), reference)
    assert near.max() < 0.4
    assert distances(stranger[None, :], reference)[0] > 0.6


def test_faces_under_the_minimum_size_get_no_descriptor(
    identifier: FaceIdentifier, detector: BlazeFaceDetector
) -> None:
    tiny = photos.scaled(photos.astronaut(), 0.3)
    faces = detector.detect_faces(tiny)
    assert len(faces) == 1 and faces[0].side < MIN_IDENTITY_SIDE
    assert identifier.describe(tiny, faces) == [None]


def test_the_model_is_named_by_its_weights(identifier: FaceIdentifier) -> None:
    assert identifier.name.startswith("dlib-resnet-v1@") and len(identifier.name) == 27
    assert identifier.predictor.name == "shape_predictor_5_face_landmarks.dat"
    assert "68" not in identifier.predictor.name


def test_identities_are_on_only_with_a_detector(tmp_path: Path) -> None:
    common = {"data_dir": tmp_path, "clip_model": "", "text_model": ""}
    on = open_models(Settings(**common, face_detector="auto"))
    assert on.identities is not None
    assert on.status()["face_identities"] == {"on": True, "model": on.identities.name}
    off = open_models(Settings(**common, face_detector="off"))
    assert off.identities is None
    assert "needs a face detector" in off.reasons["identities"]
    unwanted = open_models(Settings(**common, face_detector="auto", face_identities=False))
    assert unwanted.identities is None and "FACE_IDENTITIES" in unwanted.reasons["identities"]


def test_models_list_shows_the_identity_model(tmp_path: Path) -> None:
    (info,) = list_models(Settings(data_dir=tmp_path, clip_model="", text_model=""))
    assert (info.kind, info.present, info.dim, info.license) == ("faces", True, 128, "CC0-1.0")
    assert info.size_bytes > 20_000_000
