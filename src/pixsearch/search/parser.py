"""Parse a search formula (spec/API.md section 6) into the node tree of `nodes.py`.

`grammar.lark` defines the syntax; this module turns Lark's tree into nodes, resolving each
filter's acronym, operator and value, and turns every problem into a `QuerySyntaxError`
(its message written by `messages.py`). The error's `position` and each node's `position`
are 0-based offsets into the formula.
"""

from __future__ import annotations

import datetime
import difflib
import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedInput

from pixsearch.errors import QuerySyntaxError
from pixsearch.search import nodes
from pixsearch.search.messages import Invalid, explain_unexpected, render_message, show_found
from pixsearch.search.nodes import SIMILARITY_TYPES, Node
from pixsearch.vocabulary.colors import FAMILIES, color_lab, family_named
from pixsearch.vocabulary.fields import LABEL_FIELDS, PROSE_FIELDS

MAX_LENGTH = 4096
# Formulas kept parsed: the same one is often asked again (the next page, the same search
# from many users), and its nodes are immutable, so a search can share them.
PARSED_FORMULAS = 1024
# Parentheses and `!` nested deeper than this are refused: no real formula needs it, and it
# bounds the recursion of everything that walks the tree.
MAX_NESTING = 64
# Counts and sizes fit a signed 64-bit SQL integer.
MAX_INTEGER = 2**63 - 1

OPERATOR_ALIASES = {"=<": "<=", "≤": "<=", "=>": ">=", "≥": ">=", "=|": "∩"}


@dataclass(frozen=True)
class Value:
    """One value as written: unquoted and unescaped, with where it starts."""

    text: str
    position: int
    quoted: bool = False


@dataclass(frozen=True)
class Clause:
    """One filter as written, with its operator made canonical."""

    name: str
    op: str
    values: tuple[Value, ...]
    position: int

    @property
    def label(self) -> str:
        """Name the filter and operator for messages, as `d>=`."""
        return f"'{self.name}{self.op}'"

    @property
    def value(self) -> Value:
        return self.values[0]


Build = Callable[[Clause], Node]


@dataclass(frozen=True)
class FilterSpec:
    """What one filter accepts and how it becomes a node."""

    ops: tuple[str, ...]
    build: Build
    # Operators whose value is a comma-separated list; for the others a comma is text.
    list_ops: tuple[str, ...] = ()


@functools.cache
def load_parser() -> Lark:
    """Build the LALR parser from grammar.lark (once per process)."""
    grammar = files("pixsearch.search").joinpath("grammar.lark").read_text(encoding="utf-8")
    return Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=True,
    )


@functools.lru_cache(maxsize=PARSED_FORMULAS)
def parse_formula(text: str, *, max_length: int = MAX_LENGTH) -> Node | None:
    """Parse a formula into nodes; None when it is empty or only white space. The last
    PARSED_FORMULAS answers are kept (a refused formula raises again each time)."""
    try:
        if len(text) > max_length:
            raise Invalid(
                f"formula of {len(text)} characters is too long",
                f"at most {max_length} characters",
                max_length,
            )
        if "\x00" in text:  # no stored value has one, and PostgreSQL refuses it in text
            raise Invalid("a NUL character (U+0000)", "no NUL character", text.index("\x00"))
        if not text.strip():
            return None
        tree = parse_tree(text)
        check_nesting(tree)
        (expression,) = tree.children
        assert isinstance(expression, Tree)
        return build_node(expression, text, negated=False)
    except Invalid as problem:
        raise QuerySyntaxError(render_message(text, problem), problem.position) from None


def parse_tree(text: str) -> Tree[Token]:
    """Run Lark on the formula, translating its errors."""
    try:
        return load_parser().parse(text)
    except UnexpectedInput as exc:
        raise explain_unexpected(exc, text) from None


# --- Tree to nodes ---------------------------------------------------------------------


def check_nesting(tree: Tree[Token]) -> None:
    """Refuse parentheses and `!` nested deeper than MAX_NESTING, without recursing."""
    stack: list[tuple[Tree[Token], int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if node.data in ("group", "negation"):
            depth += 1
            if depth > MAX_NESTING:
                raise Invalid(
                    f"nesting deeper than {MAX_NESTING}",
                    f"at most {MAX_NESTING} levels of '(' and '!'",
                    start_of(node),
                )
        stack.extend((child, depth) for child in node.children if isinstance(child, Tree))


def start_of(tree: Tree[Token]) -> int:
    """Where a subtree starts in the formula."""
    return 0 if tree.meta.empty else int(tree.meta.start_pos)


def build_node(tree: Tree[Token], text: str, *, negated: bool) -> Node:
    """Turn one subtree into a node; `negated` says whether a `!` is above it."""
    kids = [c for c in tree.children if isinstance(c, Tree)]
    position = start_of(tree)
    if tree.data == "or_expr":
        children = tuple(build_node(c, text, negated=negated) for c in kids)
        return nodes.Or(children, position=position)
    if tree.data == "and_expr":
        children = tuple(build_node(c, text, negated=negated) for c in kids)
        return nodes.And(children, position=position)
    if tree.data == "negation":
        return nodes.Not(build_node(kids[0], text, negated=True), position=position)
    if tree.data == "group":
        return build_node(kids[0], text, negated=negated)
    return build_filter(tree, text, negated=negated)


def build_filter(tree: Tree[Token], text: str, *, negated: bool) -> Node:
    """Resolve `<acronym><operator><value>` into its filter node."""
    name_token, op_token, values_tree = tree.children
    assert isinstance(name_token, Token) and isinstance(op_token, Token)
    assert isinstance(values_tree, Tree)
    name, position = str(name_token), start_of(tree)
    spec = FILTERS.get(name.lower())
    if spec is None:
        raise Invalid(f"unknown filter {show_found(name)}", suggest_filter(name), position)
    op = OPERATOR_ALIASES.get(str(op_token), str(op_token))
    if op not in spec.ops:
        raise Invalid(
            f"filter '{name}' does not take the operator '{op_token}'",
            "one of " + " ".join(spec.ops),
            op_token.start_pos or 0,
        )
    clause = Clause(name, op, (), position)
    after_op = op_token.end_pos or 0
    values = read_values(values_tree, text, clause, after_op, is_list=op in spec.list_ops)
    node = spec.build(Clause(name, op, values, position))
    if negated and isinstance(node, SIMILARITY_TYPES):
        raise Invalid(
            f"similarity filter {clause.label} under '!'",
            "a filter that can be negated (t~, i~, p~ and p= rank by similarity, which '!' cannot"
            " turn around)",
            position,
        )
    return node


def suggest_filter(name: str) -> str:
    """Say which filter names exist, or which one was probably meant."""
    close = difflib.get_close_matches(name.lower(), FILTERS, n=1, cutoff=0.75)
    if close:
        return f"a filter name (did you mean '{close[0]}'?)"
    return f"a filter name: {', '.join(SHORT_NAMES)} or a text field: {', '.join(TEXT_FIELDS)}"


def read_values(
    tree: Tree[Token], text: str, clause: Clause, after_op: int, *, is_list: bool
) -> tuple[Value, ...]:
    """Read the value or, for list operators, the comma-separated values of a filter.

    For an operator that takes one value, commas between bare words are part of the value
    (`t~red, blue car`), so only a value mixing quotes and commas is ambiguous.
    """
    items: list[Value | None] = []
    commas: list[int] = []
    for child in tree.children:
        if isinstance(child, Token) and child.type == "COMMA":
            commas.append(child.start_pos or 0)
        else:
            items.append(None if child is None else read_value(child))
    if all(item is None for item in items) and (is_list or not commas):
        raise Invalid(f"missing value for {clause.label}", "a value", after_op)
    if is_list:
        for index, item in enumerate(items):
            if item is None:
                where = commas[index - 1] + 1 if index else after_op
                raise Invalid(f"empty item in the list of {clause.label}", "a value", where)
        return tuple(check_nonempty(item, clause) for item in items if item is not None)
    if len(items) == 1 and items[0] is not None:
        return (check_nonempty(items[0], clause),)
    quoted = [item for item in items if item is not None and item.quoted]
    if quoted:
        raise Invalid(
            f"several values for {clause.label}",
            "one value (put the whole value in quotes when it contains commas)",
            quoted[0].position,
        )
    start, end = start_of(tree), int(tree.meta.end_pos)
    return (Value(text[start:end], start),)


def read_value(child: Token | Tree[Token]) -> Value:
    """Unquote a STRING token (`\\"` and `\\\\` escapes) or take a BARE one as it is."""
    assert isinstance(child, Token)
    position = child.start_pos or 0
    if child.type == "STRING":
        return Value(re.sub(r'\\(["\\])', r"\1", child[1:-1]), position, quoted=True)
    return Value(str(child), position)


def check_nonempty(value: Value, clause: Clause) -> Value:
    """Refuse `""` as a value: no filter means anything by it."""
    if not value.text:
        raise Invalid(f"empty value for {clause.label}", "a non-empty value", value.position)
    return value


# --- Values of each type ---------------------------------------------------------------

_DATE = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})")
_DECIMAL = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_REAL = re.compile(_DECIMAL)
_FRACTION = re.compile(rf"({_DECIMAL})\s*/\s*({_DECIMAL})")
_INTEGER = re.compile(r"[0-9]{1,19}")
_FACE = re.compile(r"(.+)_([0-9]{1,9})", re.DOTALL)
_LEVEL = re.compile(r"\s*(~{1,3})$")  # the match level after a name: p=ada lovelace~~
BOOLEANS = {"true": True, "1": True, "false": False, "0": False}
ORIENTATIONS: dict[str, nodes.Orientation] = {
    "landscape": "landscape",
    "portrait": "portrait",
    "square": "square",
}


def wrong_value(value: Value, clause: Clause, expected: str) -> Invalid:
    """Name a value that does not have the filter's type."""
    problem = f"invalid value {show_found(value.text)} for {clause.label}"
    return Invalid(problem, expected, value.position)


def to_date(value: Value, clause: Clause) -> datetime.date:
    """Read `YYYY-M-D`, refusing dates that do not exist."""
    match = _DATE.fullmatch(value.text)
    if match:
        try:
            return datetime.date(*(int(part) for part in match.groups()))
        except ValueError:
            pass
    raise wrong_value(value, clause, "a date YYYY-M-D that exists, like 2023-2-28")


def to_real(value: Value, clause: Clause) -> float:
    """Read a number ≥ 0, or a fraction like 16/9."""
    fraction = _FRACTION.fullmatch(value.text)
    number = math.nan
    if fraction and float(fraction[2]) > 0:
        number = float(fraction[1]) / float(fraction[2])
    elif _REAL.fullmatch(value.text):
        number = float(value.text)
    if not math.isfinite(number):
        raise wrong_value(value, clause, "a number ≥ 0, like 1.5 or 16/9")
    return number


def to_integer(value: Value, clause: Clause) -> int:
    """Read a whole number ≥ 0 that fits in a signed 64-bit integer."""
    # At most 19 digits before int(): Python refuses to convert very long digit strings.
    if _INTEGER.fullmatch(value.text) and int(value.text) <= MAX_INTEGER:
        return int(value.text)
    raise wrong_value(value, clause, "a whole number ≥ 0, like 3")


# --- Filters ---------------------------------------------------------------------------

SIMILARITY: dict[str, nodes.Similarity] = {"~": "~", "~~": "~~", "~~~": "~~~"}
SAMENESS: dict[str, nodes.Sameness] = {"=": "=", "==": "==", "===": "==="}
COMPARISON: dict[str, nodes.Comparison] = {"=": "=", "<": "<", ">": ">", "<=": "<=", ">=": ">="}
LIST_COMPARISON: dict[str, nodes.ListComparison] = {**COMPARISON, "∩": "any"}
SET_OPS: dict[str, nodes.SetOp] = {"=": "all", "∩": "any", "~": "prefix"}
TEXT_OPS: dict[str, nodes.TextOp] = {"=": "fold", "==": "case", "===": "exact", "~": "prefix"}
TEXT_OPS.update({"<": "<", ">": ">", "<=": "<=", ">=": ">="})
TEXT_FIELDS = (*PROSE_FIELDS, *LABEL_FIELDS)


def build_text(clause: Clause) -> Node:
    """`t~`: free text."""
    return nodes.TextFilter(SIMILARITY[clause.op], clause.value.text, position=clause.position)


def build_image(clause: Clause) -> Node:
    """`i~` similar image, or `i=` `i==` `i===` duplicate."""
    image_id, position = clause.value.text, clause.position
    if clause.op in SIMILARITY:
        return nodes.ImageSimilar(SIMILARITY[clause.op], image_id, position=position)
    return nodes.ImageDuplicate(SAMENESS[clause.op], image_id, position=position)


def build_person(clause: Clause) -> Node:
    """`p~<image id>_<face number>`, or `p=<name>` with an optional `~`, `~~`, `~~~` after
    the name (`~~` when none; inside the quotes of a quoted name)."""
    if clause.op == "=":
        name, level = clause.value.text, "~~"
        tildes = _LEVEL.search(name)
        if tildes is not None:
            name, level = name[: tildes.start()].rstrip(), tildes[1]
        if not name.strip():
            raise wrong_value(clause.value, clause, "a person's name, like p=ada lovelace~~")
        return nodes.NamedPerson(SIMILARITY[level], name, position=clause.position)
    match = _FACE.fullmatch(clause.value.text)
    if match is None:
        raise wrong_value(clause.value, clause, "<image id>_<face number>, like img42_1")
    op = SIMILARITY[clause.op]
    return nodes.PersonFilter(op, match[1], int(match[2]), position=clause.position)


def build_date(clause: Clause) -> Node:
    """`d`: a date comparison."""
    date = to_date(clause.value, clause)
    return nodes.DateFilter(COMPARISON[clause.op], date, position=clause.position)


def build_id(clause: Clause) -> Node:
    """`id`: compare image ids, or `∩` a list of them."""
    values = tuple(v.text for v in clause.values)
    return nodes.IdFilter(LIST_COMPARISON[clause.op], values, position=clause.position)


def build_orientation(clause: Clause) -> Node:
    """`o=landscape|portrait|square`."""
    orientation = ORIENTATIONS.get(clause.value.text.lower())
    if orientation is None:
        raise wrong_value(clause.value, clause, "landscape, portrait or square")
    return nodes.OrientationFilter(orientation, position=clause.position)


def build_color(clause: Clause) -> Node:
    """`color~` near a colour, `color=` a colour family."""
    value, position = clause.value, clause.position
    if clause.op == "=":
        family = family_named(value.text)
        if family is None:
            expected = "a colour family (" + ", ".join(FAMILIES) + ") or a CSS colour name"
            raise wrong_value(value, clause, expected)
        return nodes.ColorFilter("=", value.text, family=family, position=position)
    lab = color_lab(value.text)
    if lab is None:
        raise wrong_value(value, clause, "a CSS colour name or #rrggbb, like navy or #aa3322")
    return nodes.ColorFilter(SIMILARITY[clause.op], value.text, lab=lab, position=position)


def number_builder(field: nodes.NumberField, convert: Callable[[Value, Clause], float]) -> Build:
    """Build `r`, `n`, `w`, `h` filters, converting each value with `convert`."""

    def build(clause: Clause) -> Node:
        values = tuple(convert(v, clause) for v in clause.values)
        op = LIST_COMPARISON[clause.op]
        return nodes.NumberFilter(field, op, values, position=clause.position)

    return build


def bool_builder(field: nodes.BoolField) -> Build:
    """Build `ai`, `nsfw`, `mr`, `pr` filters."""

    def build(clause: Clause) -> Node:
        value = BOOLEANS.get(clause.value.text.lower())
        if value is None:
            raise wrong_value(clause.value, clause, "true, false, 1 or 0")
        return nodes.BoolFilter(field, value, position=clause.position)

    return build


def set_builder(field: nodes.SetField) -> Build:
    """Build `k`, `c`, `col` filters."""

    def build(clause: Clause) -> Node:
        values = tuple(v.text for v in clause.values)
        return nodes.SetFilter(field, SET_OPS[clause.op], values, position=clause.position)

    return build


def text_field_builder(field: str) -> Build:
    """Build a filter on one prose or label field."""

    def build(clause: Clause) -> Node:
        op, value = TEXT_OPS[clause.op], clause.value.text
        return nodes.TextFieldFilter(field, op, value, position=clause.position)

    return build


def make_filters() -> dict[str, FilterSpec]:
    """Map every acronym and alias (lower case) to what its filter takes."""
    numbers = (*COMPARISON, "∩")
    table: list[tuple[tuple[str, ...], FilterSpec]] = [
        (("t", "txt", "text"), FilterSpec(tuple(SIMILARITY), build_text)),
        (("i", "img", "image"), FilterSpec((*SIMILARITY, *SAMENESS), build_image)),
        (("p", "person"), FilterSpec((*SIMILARITY, "="), build_person)),
        (("d", "date"), FilterSpec(tuple(COMPARISON), build_date)),
        (("id", "image_id"), FilterSpec(numbers, build_id, ("∩",))),
        (("r", "ratio", "aspect_ratio"), number_spec("aspect_ratio", to_real)),
        (("n", "n_people", "n_faces"), number_spec("n_faces", to_integer)),
        (("w", "width"), number_spec("width", to_integer)),
        (("h", "height"), number_spec("height", to_integer)),
        (("ai", "ai_generated"), FilterSpec(("=",), bool_builder("ai_generated"))),
        (("nsfw",), FilterSpec(("=",), bool_builder("nsfw"))),
        (("mr", "model_release"), FilterSpec(("=",), bool_builder("model_release"))),
        (("pr", "property_release"), FilterSpec(("=",), bool_builder("property_release"))),
        (("k", "key", "keywords"), set_spec("keywords")),
        (("c", "cat", "categories"), set_spec("categories")),
        (("col", "collections"), set_spec("collections")),
        (("tag", "tags"), set_spec("tags")),
        (("ocr", "ocr_text"), FilterSpec(("~",), text_field_builder("ocr_text"))),
        (("color", "colour", "colors", "colours"), FilterSpec(COLOR_OPS, build_color)),
        (("o", "orientation"), FilterSpec(("=",), build_orientation)),
        *(((name,), FilterSpec(tuple(TEXT_OPS), text_field_builder(name))) for name in TEXT_FIELDS),
    ]
    return {name: spec for names, spec in table for name in names}


COLOR_OPS = (*SIMILARITY, "=")


def number_spec(field: nodes.NumberField, convert: Callable[[Value, Clause], float]) -> FilterSpec:
    """`r`, `n`, `w`, `h`: comparisons, and `∩` over a list."""
    return FilterSpec((*COMPARISON, "∩"), number_builder(field, convert), ("∩",))


def set_spec(field: nodes.SetField) -> FilterSpec:
    """`k`, `c`, `col`: `=` and `∩` over a list, `~` on one word prefix."""
    return FilterSpec(tuple(SET_OPS), set_builder(field), ("=", "∩"))


FILTERS = make_filters()
# The names that messages suggest: the shortest acronym of each filter.
SHORT_NAMES: tuple[str, ...] = ("t", "i", "p", "d", "id", "r", "n", "w", "h", "ai", "nsfw")
SHORT_NAMES += ("mr", "pr", "k", "c", "col", "tag", "ocr", "color", "o")
