"""Compile the metadata filters of a formula to SQLAlchemy Core conditions over `images`.

Similarity filters (`t~`, `i~`, `p~`) are not SQL: `service.py` ranks them and hands this
module only the subtrees without them (`has_similarity` says which). Every condition is
scoped to one organisation wherever it reads another row (the image named by `i=`, the
set terms), so a foreign id matches nothing, exactly like an unknown one.

The SQL functions the conditions call (folding, word prefixes, Hamming distances) are in
`db.functions`; the set-term subqueries in `index.terms`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from pixsearch.db.dialect import NumberOfText, NumberText
from pixsearch.db.functions import Condition, word_prefix
from pixsearch.db.tables import images
from pixsearch.index.colors import near_color, of_family
from pixsearch.index.terms import having_terms, term_pks
from pixsearch.search import nodes
from pixsearch.search.nodes import SIMILARITY_TYPES, Node, iter_nodes
from pixsearch.vocabulary.text import fold


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
        case nodes.ColorFilter():
            return compile_color(node, org_id)
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


def compile_set(node: nodes.SetFilter, org_id: int) -> Condition:
    """Keywords, categories, collections through `image_terms`, folded."""
    return having_terms(node.field, org_id, [fold(value) for value in node.values], node.op)


def compile_color(node: nodes.ColorFilter, org_id: int) -> Condition:
    """A dominant colour (of at least COLOR_MIN_SHARE) of the family, or near the colour."""
    if node.op == "=":
        assert node.family is not None
        return of_family(org_id, node.family, nodes.COLOR_MIN_SHARE)
    assert node.lab is not None
    return near_color(org_id, node.lab, node.max_distance, nodes.COLOR_MIN_SHARE)


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
