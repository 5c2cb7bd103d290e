"""Bulk statements in parts, so that no IN (...) binds more parameters than drivers allow."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

CHUNK = 500  # bound the number of bound parameters per IN (...)


def chunked(values: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
