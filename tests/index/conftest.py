"""The index tests share the search tests' per-test SQLite file."""

from tests.search.conftest import engine

__all__ = ["engine"]
