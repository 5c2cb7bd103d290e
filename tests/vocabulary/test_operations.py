"""The operation vocabulary: enum values are the strings stored and shown by the contract."""

from __future__ import annotations

from pixsearch.vocabulary.operations import METHOD_OF_MODE, Action, Method, Mode, State


def test_values_are_the_stored_strings() -> None:
    assert [m.value for m in Method] == ["add", "upd", "del"]
    assert [m.value for m in Mode] == [
        "add", "put", "patch", "del", "reembed", "caption", "cel_add", "cel_put", "cel_del"
    ]  # fmt: skip
    assert max(len(m.value) for m in Mode) <= 8  # operations.mode is String(8)
    assert [s.value for s in State] == ["queued", "running", "finished"]
    assert "skip" in {a.value for a in Action}
    assert Mode.PUT == "put" and f"{Mode.PATCH}" == "patch"


def test_every_mode_has_its_method() -> None:
    assert set(METHOD_OF_MODE) == set(Mode)
    assert METHOD_OF_MODE[Mode.PATCH] is Method.UPD and METHOD_OF_MODE[Mode.DEL] is Method.DEL
