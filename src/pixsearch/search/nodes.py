"""The meaning of a search formula: small frozen node classes that a compiler matches on.

A parsed formula is a tree of `And`, `Or` and `Not` over filter nodes. Every filter is
already resolved: aliases are gone, operators are canonical, values have their types
(dates, numbers, booleans), so a compiler uses `match` on the classes and never looks at
the formula's text again. `position` is the 0-based offset where the node starts in the
formula; it is for error messages and takes no part in equality, so two formulas that mean
the same compare equal.

Each node can write itself back as a canonical formula (`to_formula`), which parses to an
equal tree.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

Similarity = Literal["~", "~~", "~~~"]
Sameness = Literal["=", "==", "==="]
Comparison = Literal["=", "<", ">", "<=", ">="]
# "any": equal to at least one of the values (the formula's `∩`).
ListComparison = Literal["=", "<", ">", "<=", ">=", "any"]
SetOp = Literal["all", "any", "prefix"]
TextOp = Literal["fold", "case", "exact", "prefix", "<", ">", "<=", ">="]
NumberField = Literal["aspect_ratio", "n_faces", "width", "height"]
BoolField = Literal["ai_generated", "model_release", "property_release", "nsfw"]
SetField = Literal["keywords", "categories", "collections"]
Orientation = Literal["landscape", "portrait", "square"]

# Largest Hamming distance between two 64-bit perceptual hashes that `i=` (near duplicate)
# and `i==` (very near) accept; `i===` compares sha256 of the bytes instead. Measured by
# bench/duplicates.py on 713 real photos: 8 gives the best F1 over copies resized to 50 %,
# recompressed at quality 60 and cropped by 5 % (precision 0.98, recall 0.96; 10 let in
# one wrong photo in ten); 4 finds every resized or recompressed copy with no wrong one.
DUPLICATE_MAX_DISTANCE: dict[str, int] = {"=": 8, "==": 4}

# The acronym each field is written back with; the parser accepts more aliases.
NUMBER_ACRONYMS: dict[str, str] = {"aspect_ratio": "r", "n_faces": "n", "width": "w", "height": "h"}
BOOL_ACRONYMS: dict[str, str] = {
    "ai_generated": "ai",
    "model_release": "mr",
    "property_release": "pr",
    "nsfw": "nsfw",
}
SET_ACRONYMS: dict[str, str] = {"keywords": "k", "categories": "c", "collections": "col"}
SET_OPERATORS: dict[str, str] = {"all": "=", "any": "∩", "prefix": "~"}
TEXT_OPERATORS: dict[str, str] = {"fold": "=", "case": "==", "exact": "===", "prefix": "~"}

_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


def quote(value: str) -> str:
    """Write a value as a quoted formula value, escaping quotes and backslashes."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _operator(op: str) -> str:
    return "∩" if op == "any" else op


@dataclass(frozen=True)
class Node:
    """A part of a formula."""

    position: int = field(default=0, kw_only=True, compare=False)

    def to_formula(self) -> str:
        """Write this node as a canonical formula."""
        raise NotImplementedError

    def __str__(self) -> str:
        return self.to_formula()


def _group(node: Node) -> str:
    """Parenthesise a compound child so that the written formula keeps the tree's shape."""
    text = node.to_formula()
    return f"({text})" if isinstance(node, And | Or) else text


@dataclass(frozen=True)
class And(Node):
    """Every child matches."""

    children: tuple[Node, ...]

    def to_formula(self) -> str:
        return " && ".join(_group(child) for child in self.children)


@dataclass(frozen=True)
class Or(Node):
    """At least one child matches."""

    children: tuple[Node, ...]

    def to_formula(self) -> str:
        return " || ".join(_group(child) for child in self.children)


@dataclass(frozen=True)
class Not(Node):
    """The child does not match."""

    child: Node

    def to_formula(self) -> str:
        return "!" + _group(self.child)


@dataclass(frozen=True)
class TextFilter(Node):
    """`t~`: free text, semantic match fused with full-text match, at a similarity level."""

    op: Similarity
    text: str

    def to_formula(self) -> str:
        return f"t{self.op}{quote(self.text)}"


@dataclass(frozen=True)
class ImageSimilar(Node):
    """`i~`: images that look like the caller's image `image_id` (AI embedding)."""

    op: Similarity
    image_id: str

    def to_formula(self) -> str:
        return f"i{self.op}{quote(self.image_id)}"


@dataclass(frozen=True)
class ImageDuplicate(Node):
    """`i=`, `i==`, `i===`: near duplicates, very near duplicates, identical bytes."""

    op: Sameness
    image_id: str

    @property
    def max_distance(self) -> int | None:
        """Hamming distance allowed on the perceptual hash; None means identical sha256."""
        return DUPLICATE_MAX_DISTANCE.get(self.op)

    def to_formula(self) -> str:
        return f"i{self.op}{quote(self.image_id)}"


@dataclass(frozen=True)
class PersonFilter(Node):
    """`p~`: images that show the person of face number `face` in image `image_id`."""

    op: Similarity
    image_id: str
    face: int

    def to_formula(self) -> str:
        return f"p{self.op}{quote(f'{self.image_id}_{self.face}')}"


@dataclass(frozen=True)
class NamedPerson(Node):
    """`p=<name>`: images that show the named person (`/celebs`), at a match level."""

    op: Similarity
    name: str

    def to_formula(self) -> str:
        return f"p={quote(self.name + self.op)}"


@dataclass(frozen=True)
class DateFilter(Node):
    """`d`: the image's `date` compared with a calendar date."""

    op: Comparison
    date: datetime.date

    def to_formula(self) -> str:
        return f"d{self.op}{self.date.isoformat()}"


@dataclass(frozen=True)
class IdFilter(Node):
    """`id`: the image id compared with one value, or equal to any of several (`any`)."""

    op: ListComparison
    values: tuple[str, ...]

    @property
    def numbers(self) -> tuple[float | None, ...]:
        """Each value as a number where it is one: such values compare numerically."""
        return tuple(float(v) if _NUMBER.fullmatch(v) else None for v in self.values)

    def to_formula(self) -> str:
        return f"id{_operator(self.op)}" + ",".join(quote(v) for v in self.values)


@dataclass(frozen=True)
class NumberFilter(Node):
    """`r`, `n`, `w`, `h`: a computed number compared with one value, or equal to any."""

    field: NumberField
    op: ListComparison
    values: tuple[float | int, ...]

    def to_formula(self) -> str:
        numbers = ",".join(repr(v) for v in self.values)
        return f"{NUMBER_ACRONYMS[self.field]}{_operator(self.op)}{numbers}"


@dataclass(frozen=True)
class BoolFilter(Node):
    """`ai`, `nsfw`, `mr`, `pr`: a boolean field equals `value`."""

    field: BoolField
    value: bool

    def to_formula(self) -> str:
        return f"{BOOL_ACRONYMS[self.field]}={'true' if self.value else 'false'}"


@dataclass(frozen=True)
class SetFilter(Node):
    """`k`, `c`, `col`: contains all values, any value, or an element with a word prefix."""

    field: SetField
    op: SetOp
    values: tuple[str, ...]

    def to_formula(self) -> str:
        values = ",".join(quote(v) for v in self.values)
        return f"{SET_ACRONYMS[self.field]}{SET_OPERATORS[self.op]}{values}"


@dataclass(frozen=True)
class TextFieldFilter(Node):
    """A prose or label field (`title`, `city`, ...) compared with a string.

    `fold`: case- and accent-insensitive equality; `case`: case- and accent-sensitive
    equality (Unicode forms of one letter are equal); `exact`: the same characters;
    `prefix`: a word of the field starts with the value; `<` `>` `<=` `>=`: alphabetical.
    """

    field: str
    op: TextOp
    value: str

    def to_formula(self) -> str:
        return f"{self.field}{TEXT_OPERATORS.get(self.op, self.op)}{quote(self.value)}"


@dataclass(frozen=True)
class OrientationFilter(Node):
    """`o`: the computed orientation equals `value`."""

    value: Orientation

    def to_formula(self) -> str:
        return f"o={self.value}"


SimilarityFilter = TextFilter | ImageSimilar | PersonFilter | NamedPerson
SIMILARITY_TYPES = (TextFilter, ImageSimilar, PersonFilter, NamedPerson)


def iter_nodes(node: Node) -> Iterator[Node]:
    """Yield `node` and every node under it, parents before children, left to right."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if isinstance(current, And | Or):
            stack.extend(reversed(current.children))
        elif isinstance(current, Not):
            stack.append(current.child)


def similarity_filters(node: Node | None) -> list[SimilarityFilter]:
    """List the filters that rank by similarity (`t~`, `i~`, `p~`), in formula order.

    A formula with any of them gives each result a `score` and allows
    `sort_by=similarity`. They may sit under `&&` and `||` but never under `!`; the parser
    refuses that.
    """
    if node is None:
        return []
    return [n for n in iter_nodes(node) if isinstance(n, SIMILARITY_TYPES)]
