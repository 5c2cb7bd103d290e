"""docs/query-language.md stays true: every example parses, every counter-example fails
with the message shown, and every filter name and operator is documented with an example."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pixsearch.errors import QuerySyntaxError
from pixsearch.search.parser import FILTERS, OPERATOR_ALIASES, parse_formula

DOC = Path(__file__).resolve().parents[2] / "docs" / "query-language.md"
BLOCK = re.compile(r"^```(formula|formula-invalid|formula-error)\n(.*?)^```$", re.M | re.S)


def blocks(kind: str) -> list[str]:
    return [body for info, body in BLOCK.findall(DOC.read_text(encoding="utf-8")) if info == kind]


def lines(kind: str) -> list[str]:
    return [line for body in blocks(kind) for line in body.splitlines() if line.strip()]


EXAMPLES = lines("formula")
INVALID = lines("formula-invalid")
ERRORS = [body.rstrip("\n").split("\n", 1) for body in blocks("formula-error")]


def test_the_doc_has_examples_of_each_kind() -> None:
    assert len(EXAMPLES) > 80
    assert len(INVALID) > 10
    assert len(ERRORS) > 5


@pytest.mark.parametrize("formula", EXAMPLES)
def test_example_parses(formula: str) -> None:
    assert parse_formula(formula) is not None


@pytest.mark.parametrize("formula", INVALID)
def test_counter_example_fails(formula: str) -> None:
    with pytest.raises(QuerySyntaxError):
        parse_formula(formula)


@pytest.mark.parametrize(("formula", "message"), ERRORS, ids=[e[0] for e in ERRORS])
def test_error_example_shows_the_real_message(formula: str, message: str) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse_formula(formula)
    assert caught.value.msg == message


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_every_filter_name_has_an_example(name: str) -> None:
    starts = re.compile(rf"(?:^|[!(&|]\s*){re.escape(name)}\s*[=~<>≤≥∩]", re.I)
    assert any(starts.search(example) for example in EXAMPLES), name


@pytest.mark.parametrize("op", ["~~~", "===", "∩", *OPERATOR_ALIASES])
def test_every_operator_and_alias_has_an_example(op: str) -> None:
    assert any(op in example for example in EXAMPLES), op
