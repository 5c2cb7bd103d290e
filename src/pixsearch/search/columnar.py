"""Metadata filters, sorts and facets answered from the column index (`index.columns`).

`evaluate` turns a formula without similarity filters into a mask over a slot's rows,
with the meaning `search.compiler` gives it in SQL: a filter on one field is decided once
per distinct value (the same comparisons SQLite makes: folded text, code point order,
missing values never match) and looked up by code; `&&`, `||` combine masks and `!` is a
true complement. A filter the columns cannot decide (duplicates, colours, ids, prose
fields) runs as its SQL (`select_pks`) and becomes a mask, so every formula stays exact.

`search_columns` is `service.search_metadata` on those masks: the count is the mask's
sum, the page the top rows by the sort key, each facet a count of codes over the hits.
A page of results, ranked or not, is rendered from the slot's documents (`read_results`)
when it shows only result fields, else read from SQL by pk.
"""

from __future__ import annotations

import operator
import unicodedata
from collections.abc import Callable
from typing import Any

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray

from pixsearch.db.dialect import Dialect
from pixsearch.db.functions import word_prefix_sql
from pixsearch.images.service import read_page
from pixsearch.index.columns import CODED_FIELDS, SORTED_FIELDS, ColumnIndex, Selection, Slot
from pixsearch.index.encoding import Mask, number_array, text_array
from pixsearch.search import nodes
from pixsearch.search.compiler import select_pks
from pixsearch.search.nodes import Node
from pixsearch.search.schemas import TEXT_SORT_FIELDS
from pixsearch.vocabulary.fields import RESULT_FIELDS, TERM_FIELDS
from pixsearch.vocabulary.text import fold

COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}
MAX_OFFSET = 2**62  # as in service.py: past this no page can have results

SqlPks = Callable[[Node], NDArray[np.int64]]


def sorts_in_memory(sort_by: str) -> bool:
    """Whether the columns hold the sort key (not the image id, the URLs or prose)."""
    return (sort_by or "created_at") in SORTED_FIELDS


def evaluate(slot: Slot, node: Node | None, sql_pks: SqlPks) -> Mask:
    """The rows of `slot` that match `node` (None: every row), live or not."""
    if node is None:
        return np.ones(slot.size, dtype=bool)
    match node:
        case nodes.And(children=children):
            mask = np.ones(slot.size, dtype=bool)
            for child in children:
                mask &= evaluate(slot, child, sql_pks)
            return mask
        case nodes.Or(children=children):
            mask = np.zeros(slot.size, dtype=bool)
            for child in children:
                mask |= evaluate(slot, child, sql_pks)
            return mask
        case nodes.Not(child=child):
            return ~evaluate(slot, child, sql_pks)
        case nodes.SetFilter():
            return set_mask(slot, node)
    table = code_table(slot, node)
    if table is None:
        return slot.mask_of(sql_pks(node))
    field, passes = table
    return slot.rows_with(field, passes)


def code_table(slot: Slot, node: Node) -> tuple[str, Mask] | None:
    """The field a one-field filter reads and whether each of its codes passes; None
    when the columns cannot decide the filter."""
    match node:
        case nodes.DateFilter(op=op, date=date):
            texts = slot.dictionaries["date"].derived("text", text_array)
            return "date", present(COMPARE[op](texts, date.isoformat()))
        case nodes.NumberFilter(field=field, op=op, values=values):
            numbers = slot.dictionaries[field].derived("number", number_array)
            if op == "any":
                return field, np.isin(numbers, np.array(values, dtype=np.float64))
            return field, COMPARE[op](numbers, float(values[0]))
        case nodes.BoolFilter(field=field, value=value):
            return field, slot.dictionaries[field].lookup(lambda v: bool(v) == value)
        case nodes.OrientationFilter(value=value):
            return "orientation", slot.dictionaries["orientation"].lookup(lambda v: v == value)
        case nodes.TextFieldFilter(field=field) if field in CODED_FIELDS:
            return field, text_table(slot, node)
    return None


def present(table: Mask) -> Mask:
    """Code 0 (a missing value) never matches, whatever the comparison said of it."""
    table[0] = False
    return table


def text_table(slot: Slot, node: nodes.TextFieldFilter) -> Mask:
    """`compiler.compile_text_field`, decided per distinct value."""
    dictionary = slot.dictionaries[node.field]
    value = node.value
    if node.op == "exact":
        return dictionary.lookup(lambda v: v == value)
    if node.op == "case":
        nfc = unicodedata.normalize("NFC", value)
        return dictionary.lookup(lambda v: unicodedata.normalize("NFC", v) == nfc)
    folded_value = fold(value)
    if node.op == "prefix":
        return dictionary.lookup(lambda v: word_prefix_sql(v, folded_value) == 1)
    folded = dictionary.derived("fold", lambda values: text_array(values, fold))
    return present(COMPARE["=" if node.op == "fold" else node.op](folded, folded_value))


def set_mask(slot: Slot, node: nodes.SetFilter) -> Mask:
    """Keywords, categories, collections, tags: all of the folded values, any, or a word
    prefix of one (`index.terms.having_terms`)."""
    norms = slot.terms[node.field].norms
    folded = [fold(value) for value in node.values]
    if node.op == "prefix":
        table = norms.lookup(lambda v: word_prefix_sql(v, folded[0]) == 1)
        return slot.term_mask(node.field, table)

    def having(values: list[str]) -> Mask:
        table = np.zeros(len(norms), dtype=bool)
        table[[norms.code_of[v] for v in values if v in norms.code_of]] = True
        return slot.term_mask(node.field, table)

    if node.op == "any":
        return having(folded)
    mask = np.ones(slot.size, dtype=bool)
    for value in folded:
        mask &= having([value])
    return mask


def sql_pks_of(conn: sa.Connection, dialect: Dialect, org_id: int) -> SqlPks:
    """What a filter the columns cannot decide matches, from SQL."""

    def pks(node: Node) -> NDArray[np.int64]:
        return dialect.fetch_pks(conn, select_pks(node, org_id))

    return pks


def scope_pks(
    conn: sa.Connection, dialect: Dialect, columns: ColumnIndex, org_id: int, node: Node
) -> NDArray[np.int64]:
    """The sorted pks of the organisation's images that pass `node`."""
    with columns.reading(org_id) as slot:
        return slot.pks_of(evaluate(slot, node, sql_pks_of(conn, dialect, org_id)))


def count_facets(
    slot: Slot, selection: Selection, names: tuple[str, ...], limit: int
) -> dict[str, list[dict[str, Any]]]:
    """`service.count_facets` over the selected rows."""
    facets: dict[str, list[dict[str, Any]]] = {}
    for name in dict.fromkeys(names):
        if name in TERM_FIELDS:
            found: list[tuple[Any, int]] = list(slot.term_facet(name, selection, limit))
        else:
            found = slot.scalar_facet(name, selection, limit, name in TEXT_SORT_FIELDS)
        facets[name] = [{"value": value, "count": count} for value, count in found]
    return facets


def sorted_page(
    slot: Slot, selection: Selection, sort_by: str, descending: bool, offset: int, limit: int
) -> list[int]:
    """The pks of one page of the selected rows in the order of a field."""
    if offset >= MAX_OFFSET:
        return []
    name = sort_by or "created_at"
    top = slot.top(
        selection, name, descending, offset + limit, case_insensitive=name in TEXT_SORT_FIELDS
    )
    return [int(pk) for pk in top[offset:]]


def read_results(
    conn: sa.Connection,
    columns: ColumnIndex | None,
    org_id: int,
    pks: list[int],
    fields: tuple[str, ...],
) -> dict[int, dict[str, Any]]:
    """`read_page`, from the column index's documents when it has the fields. A pk the
    slot does not hold (another organisation's, deleted since the hits were found, or
    committed after the slot last read) is asked of the database."""
    if columns is None or not columns.renders(fields):
        return read_page(conn, org_id, pks, fields)
    with columns.reading(org_id) as slot:
        found = slot.results(pks, fields)
    missing = [pk for pk in pks if pk not in found]
    if missing:
        found.update(read_page(conn, org_id, missing, fields))
    return found


def render_rows(
    conn: sa.Connection,
    columns: ColumnIndex,
    org_id: int,
    pks: list[int],
    fields: tuple[str, ...],
) -> list[dict[str, Any]]:
    """The rows of the pks in that order; rows deleted meanwhile are left out."""
    rows = read_results(conn, columns, org_id, pks, fields)
    return [rows[pk] for pk in pks if pk in rows]


def search_columns(
    conn: sa.Connection,
    dialect: Dialect,
    columns: ColumnIndex,
    org_id: int,
    formula: Node | None,
    *,
    sort_by: str,
    descending: bool,
    offset: int,
    limit: int,
    fields: tuple[str, ...] | None,
    facets: tuple[str, ...],
    facet_limit: int,
    count: bool,
) -> tuple[list[dict[str, Any]], int | None, dict[str, list[dict[str, Any]]]]:
    """One page in the sort's order, the count and the facets, from the columns."""
    with columns.reading(org_id) as slot:
        selection = slot.of_mask(evaluate(slot, formula, sql_pks_of(conn, dialect, org_id)))
        page = sorted_page(slot, selection, sort_by, descending, offset, limit)
        total = selection.count() if count else None
        found = count_facets(slot, selection, facets, facet_limit)
    return render_rows(conn, columns, org_id, page, fields or RESULT_FIELDS), total, found
