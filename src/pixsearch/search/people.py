"""Person filters: `p~<image id>_<n>` (the same person as a face) and `p=<name>` (a named
person, `/celebs`), ranked by the Euclidean distance of the closest face.

The score is 1 - distance: 1 for the very face, about 0.4 at the widest threshold. A
value that names no face of the caller's images is a 422 saying which part is wrong,
because unlike `i~` (where a missing vector is ordinary) a face number is something the
user read off an image and mistyped.
"""

from __future__ import annotations

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray

from pixsearch.errors import InvalidInput
from pixsearch.index.embeddings import PkScope
from pixsearch.index.faces import FaceKey, Faces, face_of
from pixsearch.runtimes.identities import IDENTITY_THRESHOLDS, FaceIdentifier
from pixsearch.search import nodes
from pixsearch.search.fusion import Hits

Q = ("query", "q")


def person_unavailable(reason: str) -> InvalidInput:
    return InvalidInput(
        Q,
        f"person search (p~, p=) is not available: face identities are off ({reason})",
        "not_available",
    )


def face_descriptor(
    conn: sa.Connection, identifier: FaceIdentifier, org_id: int, image_id: str, n: int
) -> NDArray[np.float32]:
    """The descriptor of face `n` of the organisation's image, or a 422 naming the problem."""
    found = face_of(conn, org_id, image_id, n, identifier.name)
    value = f"{image_id}_{n}"
    if found is None:
        raise InvalidInput(Q, f"person {value!r}: image {image_id!r} does not exist", "value_error")
    if n < 1 or n > found.n_faces:
        faces = {0: "no faces", 1: "1 face"}.get(found.n_faces, f"{found.n_faces} faces")
        raise InvalidInput(
            Q,
            f"person {value!r}: image {image_id!r} has {faces}, so there is no face {n}",
            "value_error",
        )
    if not found.analysed:
        raise InvalidInput(
            Q,
            f"person {value!r}: image {image_id!r} was analysed without face identities "
            "(`pixsearch models reembed` computes them)",
            "value_error",
        )
    if found.descriptor is None:
        raise InvalidInput(
            Q,
            f"person {value!r}: face {n} of image {image_id!r} is too small for an identity "
            f"(under {identifier.min_side} px)",
            "value_error",
        )
    return found.descriptor


def match_faces(
    conn: sa.Connection,
    faces: Faces,
    identifier: FaceIdentifier,
    org_id: int,
    op: nodes.Similarity,
    queries: list[NDArray[np.float32]],
    scope: PkScope | None,
) -> Hits:
    """Images with a face within the operator's distance of one of `queries`."""
    threshold = identifier.thresholds.get(op, IDENTITY_THRESHOLDS[op])
    key: FaceKey = (org_id, identifier.name)
    found = faces.search(conn, key, queries, threshold, scope)
    return Hits.of(found.pks, 1.0 - found.distances.astype(np.float64))
