"""What each item does, decided from the image's current state (pure functions)."""

from __future__ import annotations

from typing import Any

import pytest

from pixsearch.operations.plan import (
    EXISTS_STRICT,
    MISSING_STRICT,
    Plan,
    caption_text,
    new_fields,
    plan_item,
)
from pixsearch.vocabulary.fields import WRITABLE_FIELDS
from pixsearch.vocabulary.operations import Action, Mode
from pixsearch.vocabulary.rows import ImageRow

STORED: ImageRow = {"src": "http://a/1.jpg", "title": "Old", "keywords": ["x"], "city": "Oslo"}


@pytest.mark.parametrize(
    ("mode", "strict", "existing", "body", "expected"),
    [
        (Mode.ADD, False, None, {"src": "http://a/1.jpg"}, Plan(Action.INSERT, needs_pixels=True)),
        (Mode.ADD, True, STORED, {"src": "http://a/1.jpg"}, Plan(Action.FAIL, error=EXISTS_STRICT)),
        (Mode.ADD, False, STORED, {"src": "http://a/1.jpg"}, Plan(Action.REPLACE)),
        (Mode.ADD, False, STORED, {"src": "http://a/2.jpg"}, Plan(Action.REPLACE, True)),
        (Mode.PUT, False, STORED, {"src": "http://a/1.jpg"}, Plan(Action.REPLACE)),
        (Mode.PATCH, False, STORED, {"title": "New"}, Plan(Action.PATCH)),
        (Mode.PATCH, False, STORED, {"src": "http://a/2.jpg"}, Plan(Action.PATCH, True)),
        (Mode.DEL, False, STORED, None, Plan(Action.DELETE)),
        (Mode.PATCH, False, None, {"title": "x"}, Plan(Action.SKIP)),
        (Mode.DEL, True, None, None, Plan(Action.FAIL, error=MISSING_STRICT)),
        (Mode.REEMBED, True, None, None, Plan(Action.SKIP)),  # strict never fails a re-embed
        (Mode.REEMBED, False, STORED, None, Plan(Action.REEMBED, needs_pixels=True)),
        (Mode.CAPTION, False, STORED, None, Plan(Action.REEMBED, needs_pixels=False)),
    ],
)
def test_plan_of_each_mode_and_state(
    mode: Mode, strict: bool, existing: ImageRow | None, body: Any, expected: Plan
) -> None:
    assert plan_item(mode, strict, existing, body) == expected


def test_a_replacement_nulls_what_the_body_leaves_out() -> None:
    fields = new_fields(Plan(Action.REPLACE), STORED, {"src": "http://a/1.jpg"})
    assert set(fields) == set(WRITABLE_FIELDS)
    assert fields["src"] == "http://a/1.jpg" and fields["title"] is None


def test_a_patch_keeps_what_the_body_leaves_out() -> None:
    fields = new_fields(Plan(Action.PATCH), STORED, {"title": "New", "city": None})
    assert fields["title"] == "New" and fields["city"] is None
    assert fields["keywords"] == ["x"] and fields["src"] == "http://a/1.jpg"


def test_caption_text_joins_the_caption_fields() -> None:
    assert caption_text({"title": "Sunset", "keywords": ["sea", "sky"], "city": "Oslo"}) == (
        "Sunset. sea, sky. Oslo"
    )
    assert caption_text({"src": "http://a/1.jpg"}) == ""
