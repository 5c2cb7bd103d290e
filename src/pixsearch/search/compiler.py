"""Compile the metadata filters of a formula to SQLAlchemy Core conditions over `images`.

Similarity filters (`t~`, `i~`, `p~`) are not SQL: `service.py` ranks them and hands this
module only the subtrees without them (`has_similarity` says which). Every condition is
scoped to one organisation wherever it reads another row (the image named by `i=`, the
set terms), so a foreign id matches nothing, exactly like an unknown one.

Case- and accent-folding, Unicode normalisation, word prefixes and Hamming distances are
SQL functions that SQLite lacks; `install_functions` registers Python ones on the
connection. On PostgreSQL, migration 0002 creates SQL functions of the same names
(Hamming: `bit_count((a # b)::bit(64))`). That, `NumberText` and `NumberOfText` (GLOB on
SQLite, a regular expression on PostgreSQL), `fetch_pks` and `pk_set_condition` are the
dialect-specific pieces.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from pixsearch.db.tables import image_terms, images
from pixsearch.images.text import fold
from pixsearch.ingest.analyse import hamming_distance
from pixsearch.search import nodes
from pixsearch.search.nodes import SIMILARITY_TYPES, Node, iter_nodes

Condition = sa.ColumnElement[bool]
# Sets of image pks up to this size travel as a plain IN list; larger ones as one JSON text.
INLINE_PKS = 500


def has_similarity(node: Node) -> bool:
    """Whether `node` or a node under it ranks by similarity (`t~`, `i~`, `p~`)."""
    return any(isinstance(n, SIMILARITY_TYPES) for n in iter_nodes(node))


def compile_filter(node: Node, org_id: int) -> Condition:
    """The SQL condition over `images` that says whether an image matches `node`.

    `node` must have no similarity filter. `!` is a true complement: `!city=Paris` keeps
    the images without a city, although SQL's `NOT (city = 'Paris')` would drop them.
    """
    match node:
        case nodes.And(children=children):
            return sa.and_(*(compile_filter(child, org_id) for child in children))
        case nodes.Or(children=children):
            return sa.or_(*(compile_filter(child, org_id) for child in children))
        case nodes.Not(child=child):
            return sa.not_(sa.func.coalesce(compile_filter(child, org_id), sa.false()))
        case nodes.ImageDuplicate():
            return compile_duplicate(node, org_id)
        case nodes.DateFilter(op=op, date=date):
            return compare(images.c.date, op, date.isoformat())
        case nodes.IdFilter():
            return compile_id(node)
        case nodes.NumberFilter(field=field, op=op, values=values):
            column = images.c[field]
            if op == "any":
                return column.in_(values)
            return compare(column, op, values[0])
        case nodes.BoolFilter(field=field, value=value):
            return images.c[field] == value
        case nodes.SetFilter():
            return compile_set(node, org_id)
        case nodes.TextFieldFilter():
            return compile_text_field(node)
        case nodes.OrientationFilter(value=value):
            return images.c.orientation == value
    raise TypeError(f"{type(node).__name__} is not a metadata filter")


def select_pks(node: Node, org_id: int) -> sa.Select[Any]:
    """SELECT the pks of the organisation's images that match `node` (no similarity).

    Keyword, category and collection filters, and `&&` and `||` of them, read only
    `image_terms` (INTERSECT, UNION): no lookup of each image row.
    """
    terms = select_term_pks(node, org_id)
    if terms is not None:
        return terms
    return sa.select(images.c.id).where(images.c.org_id == org_id, compile_filter(node, org_id))


def select_term_pks(node: Node, org_id: int) -> sa.Select[Any] | None:
    """The pks of a set filter, or of `&&`/`||` of set filters, from `image_terms` alone."""
    if isinstance(node, nodes.SetFilter):
        folded = [fold(value) for value in node.values]
        if node.op == "all" and len(folded) > 1:
            parts = [term_pks(node.field, org_id, [value]) for value in folded]
            return sa.intersect(*parts).subquery().select()
        return term_pks(node.field, org_id, folded, prefix=node.op == "prefix")
    if isinstance(node, nodes.And | nodes.Or) and node.children:
        found = [select_term_pks(child, org_id) for child in node.children]
        parts = [part for part in found if part is not None]
        if len(parts) < len(found):
            return None
        if len(parts) == 1:
            return parts[0]
        combine = sa.intersect if isinstance(node, nodes.And) else sa.union
        return combine(*parts).subquery().select()
    return None


def term_pks(field: str, org_id: int, folded: list[str], *, prefix: bool = False) -> sa.Select[Any]:
    """Pks with a term of `field` equal to one of `folded` (or with a word starting so)."""
    if prefix:
        matches = word_prefix(image_terms.c.value_norm, folded[0])
    else:
        matches = image_terms.c.value_norm.in_(folded)
    # No DISTINCT: an image may repeat (two spellings of one term); callers do not mind.
    return sa.select(image_terms.c.image_pk).where(
        image_terms.c.org_id == org_id, image_terms.c.field == field, matches
    )


COMPARATORS: dict[str, Callable[[Any, Any], Condition]] = {
    "=": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
}


def compare(left: Any, op: str, right: Any) -> Condition:
    """`left <op> right` for one of = < > <= >=."""
    return COMPARATORS[op](left, right)


def compile_duplicate(node: nodes.ImageDuplicate, org_id: int) -> Condition:
    """`i===`: the same sha256; `i=`, `i==`: perceptual hashes within the distance."""
    other = images.alias("named")
    named = sa.and_(other.c.org_id == org_id, other.c.image_id == node.image_id)
    if node.max_distance is None:
        return images.c.sha256 == sa.select(other.c.sha256).where(named).scalar_subquery()
    target = sa.select(other.c.phash).where(named).scalar_subquery()
    distance = sa.func.pixsearch_hamming(images.c.phash, target, type_=sa.Integer)
    return distance <= node.max_distance


def compile_id(node: nodes.IdFilter) -> Condition:
    """Compare image ids as numbers where both sides are numbers, as text otherwise."""
    op = "=" if node.op == "any" else node.op
    column = images.c.image_id
    conditions: list[Condition] = []
    for text, number in zip(node.values, node.numbers, strict=True):
        as_text = compare(column, op, text)
        if number is None:
            conditions.append(as_text)
            continue
        numeric = NumberText(column)
        as_number = compare(NumberOfText(column), op, number)
        conditions.append(sa.or_(sa.and_(numeric, as_number), sa.and_(sa.not_(numeric), as_text)))
    return conditions[0] if len(conditions) == 1 else sa.or_(*conditions)


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


NUMBER_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"


class NumberText(FunctionElement[bool]):
    """Whether the text is a number as the formula reads one (`is_number_text`)."""

    type = sa.Boolean()
    inherit_cache = True


class NumberOfText(FunctionElement[float]):
    """The text as a number; PostgreSQL casts only numbers (a cast of 'a' is an error)."""

    type = sa.Float()
    inherit_cache = True


@compiles(NumberText)
def number_text_sqlite(element: NumberText, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = element.clauses
    return "(" + str(compiler.process(is_number_text(column), **kw)) + ")"  # for a NOT


@compiles(NumberText, "postgresql")
def number_text_postgres(element: NumberText, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = element.clauses
    return (
        "(" + str(compiler.process(column.op("~", is_comparison=True)(NUMBER_PATTERN), **kw)) + ")"
    )


@compiles(NumberOfText)
def number_of_text_sqlite(element: NumberOfText, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = element.clauses
    return str(compiler.process(sa.cast(column, sa.Float), **kw))


@compiles(NumberOfText, "postgresql")
def number_of_text_postgres(element: NumberOfText, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = element.clauses
    number = sa.case((NumberText(column), sa.cast(column, sa.Float)))
    return str(compiler.process(number, **kw))


def compile_set(node: nodes.SetFilter, org_id: int) -> Condition:
    """Keywords, categories, collections through `image_terms`, folded."""

    def having(condition: Condition) -> Condition:
        terms = sa.select(image_terms.c.image_pk).where(
            image_terms.c.org_id == org_id, image_terms.c.field == node.field, condition
        )
        return images.c.id.in_(terms)

    folded = [fold(value) for value in node.values]
    if node.op == "all":
        return sa.and_(*(having(image_terms.c.value_norm == value) for value in folded))
    if node.op == "any":
        return having(image_terms.c.value_norm.in_(folded))
    return having(word_prefix(image_terms.c.value_norm, folded[0]))


def compile_text_field(node: nodes.TextFieldFilter) -> Condition:
    """A prose or label field: folded, case-sensitive, exact, word prefix, alphabetical."""
    column = images.c[node.field]
    if node.op == "exact":
        return column == node.value
    if node.op == "case":
        nfc = sa.func.pixsearch_nfc(column, type_=sa.Text)
        return nfc == unicodedata.normalize("NFC", node.value)
    if node.op == "prefix":
        return word_prefix(column, fold(node.value))
    folded = sa.func.pixsearch_fold(column, type_=sa.Text)
    return compare(folded, "=" if node.op == "fold" else node.op, fold(node.value))


def word_prefix(column: sa.ColumnElement[str], folded_value: str) -> Condition:
    """A word of the folded column starts with `folded_value`."""
    return sa.func.pixsearch_word_prefix(column, folded_value, type_=sa.Boolean) == sa.true()


# --- Dialect-specific pieces -------------------------------------------------------------


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


def install_functions(conn: sa.Connection) -> None:
    """Register the SQL functions the compiled conditions call (on this connection)."""
    if conn.dialect.name != "sqlite":
        return  # PostgreSQL has them from migration 0002
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    for name, (arity, function) in SQL_FUNCTIONS.items():
        dbapi.create_function(name, arity, function, deterministic=True)


def fetch_pks(conn: sa.Connection, statement: sa.Select[Any]) -> NDArray[np.int64]:
    """The single integer column of `statement`, as an array, fast even for a million rows.

    On SQLite, `group_concat` builds one string inside the database and NumPy parses it:
    several times faster than fetching a Python tuple per row.
    """
    if conn.dialect.name == "sqlite":
        inner = statement.subquery()
        (column,) = inner.c
        text = conn.execute(sa.select(sa.func.group_concat(column))).scalar()
        if not text:
            return np.zeros(0, dtype=np.int64)
        return np.fromstring(str(text), dtype=np.int64, sep=",")
    return np.fromiter((row[0] for row in conn.execute(statement)), dtype=np.int64)


def pk_set_condition(
    column: sa.ColumnElement[int], pks: Sequence[int] | NDArray[np.int64], dialect: str
) -> Condition:
    """`column` is one of `pks`; a large set travels as one parameter (JSON or an array)."""
    values = [int(pk) for pk in pks]
    if len(values) <= INLINE_PKS:
        return column.in_(values)
    if dialect == "postgresql":
        return column == sa.any_(sa.literal(values, ARRAY(sa.BigInteger)))
    table = sa.func.json_each(sa.literal(json.dumps(values), sa.Text))
    return column.in_(sa.select(table.table_valued("value").c.value))
