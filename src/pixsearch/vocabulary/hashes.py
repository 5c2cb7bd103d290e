"""Comparing 64-bit perceptual hashes, as ingest computes them and search matches them."""

from __future__ import annotations

MASK64 = (1 << 64) - 1


def to_signed64(value: int) -> int:
    """An unsigned 64-bit value in two's complement signed form."""
    return value - (1 << 64) if value >= 1 << 63 else value


def hamming_distance(a: int, b: int) -> int:
    """How many of the 64 bits differ between two hashes (signed or unsigned)."""
    return ((a ^ b) & MASK64).bit_count()
