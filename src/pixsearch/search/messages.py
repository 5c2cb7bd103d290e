"""The messages of formula errors: what was found, what was expected, and where.

A `QuerySyntaxError` message names the column (1-based), what was found and what was
expected, followed by the formula and a caret under the problem; positions are 0-based
offsets into the formula. `Invalid` carries a problem until `parse_formula` renders it.
"""

from __future__ import annotations

import unicodedata

from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

_EXCERPT_RADIUS = 40


class Invalid(Exception):
    """A problem at a position: rendered into a QuerySyntaxError by `parse_formula`."""

    def __init__(self, problem: str, expected: str, position: int) -> None:
        super().__init__(problem)
        self.problem = problem
        self.expected = expected
        self.position = position


_TERMINALS = {
    "FIELD": "a filter",
    "NOT": "'!'",
    "LPAR": "'('",
    "OP": "an operator such as =, ~ or < (a filter is <name><operator><value>, like t~cat)",
    "STRING": "a value",
    "BARE": "a value",
    "COMMA": "','",
    "_AND": "'&&'",
    "_OR": "'||'",
    "RPAR": "')'",
    "$END": "the end of the formula",
}
_QUOTE_HINT = "; quote a value that contains '\"', '(' or ')'"


def describe_expected(terminals: set[str]) -> str:
    """Say in words which terminals could have come next."""
    if "_AND" in terminals or "_OR" in terminals:
        terminals = terminals - {"COMMA"}  # after a value; commas are rarely the point
    words = list(dict.fromkeys(_TERMINALS[t] for t in _TERMINALS if t in terminals))
    if not words:
        return "something else"
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def show_found(found: str) -> str:
    """Quote what was found, shortened, with invisible characters escaped."""
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in found[:24])
    return f"'{shown}'" if len(found) <= 24 else f"'{shown}…'"


def explain_unexpected(exc: UnexpectedInput, text: str) -> Invalid:
    """Turn Lark's error into a problem naming what was found and what was expected."""
    if isinstance(exc, UnexpectedCharacters):
        position, allowed = exc.pos_in_stream or 0, set(exc.allowed or ())
        if exc.interactive_parser is not None:  # exact, where the lexer's set is merged
            allowed = set(exc.interactive_parser.accepts())  # type: ignore[no-untyped-call]
        found = text[position : position + 1]
        if found == '"' and "STRING" in allowed:
            return Invalid("unterminated quoted value", "a closing '\"'", position)
    elif isinstance(exc, UnexpectedToken):
        token, allowed = exc.token, set(exc.accepts or exc.expected)
        if token.type == "$END":
            return Invalid("unexpected end of the formula", describe_expected(allowed), len(text))
        position, found = token.start_pos or 0, str(token)
        if token.type == "RPAR" and not allowed & {"RPAR", "FIELD"}:
            return Invalid("unmatched ')'", "'&&', '||' or the end of the formula", position)
    else:
        return Invalid("unexpected end of the formula", "more", len(text))
    expected = describe_expected(allowed)
    if found[:1] in ('"', "(") and ("_AND" in allowed or "$END" in allowed):
        expected += _QUOTE_HINT
    return Invalid(f"unexpected {show_found(found)}", expected, position)


def render_message(text: str, problem: Invalid) -> str:
    """Write the message: problem, column, expectation, then the formula with a caret."""
    excerpt, caret = render_excerpt(text, problem.position)
    column = problem.position + 1
    return f"{problem.problem} at column {column}: expected {problem.expected}\n{excerpt}\n{caret}"


def render_excerpt(text: str, position: int) -> tuple[str, str]:
    """Show the formula around `position` on one line, and a caret line under it."""
    start = max(0, position - _EXCERPT_RADIUS)
    end = min(len(text), position + _EXCERPT_RADIUS)
    before = ("…" if start else "") + text[start:position]
    after = text[position:end] + ("…" if end < len(text) else "")
    shown = "".join(c if c.isprintable() else " " for c in before + after)
    return "  " + shown, "  " + " " * display_width(before) + "^"


def display_width(text: str) -> int:
    """Count terminal columns: wide East Asian characters take two, combining marks none."""
    width = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width
