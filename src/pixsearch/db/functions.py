"""The SQL functions that compiled search conditions call, and the expressions built on them.

Case- and accent-folding, Unicode normalisation, word prefixes and Hamming distances are
SQL functions that SQLite lacks; `register_functions` gives a SQLite connection Python
ones (the SQLite dialect calls it on each search connection). On PostgreSQL, migration
0002 creates SQL functions of the same names (Hamming: `bit_count((a # b)::bit(64))`).
`db.dialect` compiles `NumberText` and `NumberOfText` for each engine.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from pixsearch.vocabulary.hashes import hamming_distance
from pixsearch.vocabulary.text import fold

Condition = sa.ColumnElement[bool]


def word_prefix(column: sa.ColumnElement[str], folded_value: str) -> Condition:
    """A word of the folded column starts with `folded_value`."""
    return sa.func.pixsearch_word_prefix(column, folded_value, type_=sa.Boolean) == sa.true()


def is_number_text(column: sa.ColumnElement[str]) -> Condition:
    """Whether the text is a number as the formula reads one: `-?[0-9]+(\\.[0-9]+)?`."""
    unsigned = sa.case((glob(column, "-*"), sa.func.substr(column, 2)), else_=column)
    return sa.and_(
        glob(unsigned, "[0-9]*"),
        sa.not_(glob(unsigned, "*[^0-9.]*")),
        sa.not_(glob(unsigned, "*.*.*")),
        sa.not_(glob(unsigned, "*.")),
    )


def glob(text: sa.ColumnElement[Any], pattern: str) -> Condition:
    """SQLite's case-sensitive wildcard match (`*`, `?`, `[...]`)."""
    return text.op("GLOB", is_comparison=True)(pattern)


# --- Python implementations, for SQLite ----------------------------------------------------


def fold_sql(text: str | None) -> str | None:
    return None if text is None else fold(text)


def nfc_sql(text: str | None) -> str | None:
    return None if text is None else unicodedata.normalize("NFC", text)


@functools.lru_cache(maxsize=256)
def word_start(folded_value: str) -> re.Pattern[str]:
    """`folded_value` where it is not preceded by a letter or digit."""
    return re.compile(r"(?<![^\W_])" + re.escape(folded_value))


def word_prefix_sql(text: str | None, folded_value: str | None) -> int | None:
    if text is None or folded_value is None:
        return None
    return 1 if word_start(folded_value).search(fold(text)) else 0


def hamming_sql(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else hamming_distance(a, b)


SQL_FUNCTIONS: dict[str, tuple[int, Callable[..., Any]]] = {
    "pixsearch_fold": (1, fold_sql),
    "pixsearch_nfc": (1, nfc_sql),
    "pixsearch_word_prefix": (2, word_prefix_sql),
    "pixsearch_hamming": (2, hamming_sql),
}


def register_functions(conn: sa.Connection) -> None:
    """Register the Python SQL functions on this SQLite connection."""
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    for name, (arity, function) in SQL_FUNCTIONS.items():
        dbapi.create_function(name, arity, function, deterministic=True)
