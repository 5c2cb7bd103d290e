"""Reading sources: CSV typed by the image schema, JSON Lines, folders; checking rows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pixsearch.catalogue.check import check_rows
from pixsearch.catalogue.rows import Row, Source, SourceError, csv_rows, folder_rows, jsonl_rows


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_cells_are_typed_by_the_image_schema(tmp_path: Path) -> None:
    source = write(
        tmp_path / "c.csv",
        "id,src,keywords,nsfw,ai_generated,title,date\n"
        '1,http://h.test/a.jpg,red car| night ||,yes,0,"A, quoted",2005-5-13\n'
        "2,http://h.test/b.jpg,,,,,\n",
    )
    rows = list(csv_rows(source, "|"))
    assert rows[0].number == 1 and rows[0].fields == (
        {
            "id": "1",
            "src": "http://h.test/a.jpg",
            "keywords": ["red car", "night"],
            "nsfw": True,
            "ai_generated": False,
            "title": "A, quoted",
            "date": "2005-5-13",
        }
    )
    assert rows[1] == Row.of(2, {"id": "2", "src": "http://h.test/b.jpg"})  # empty: not given


def test_csv_list_separator_is_configurable(tmp_path: Path) -> None:
    source = write(tmp_path / "c.csv", "id,categories\nx,a;b\n")
    assert next(csv_rows(source, ";")).fields == {"id": "x", "categories": ["a", "b"]}


@pytest.mark.parametrize(
    ("header", "message"),
    [("id,colour", "unknown column(s) 'colour'"), ("src,title", "no `id` column")],
)
def test_csv_header_problems_stop_the_import(tmp_path: Path, header: str, message: str) -> None:
    source = write(tmp_path / "c.csv", header + "\n1,2\n")
    with pytest.raises(SourceError, match=re.escape(message)):
        list(csv_rows(source, "|"))


def test_bad_rows_are_reported_with_their_number(tmp_path: Path) -> None:
    csv = write(tmp_path / "c.csv", "id,src\n1,http://h.test/a\n2\n")
    assert next(r for r in csv_rows(csv, "|") if r.number == 2).problem == (
        "1 cells, the header has 2"
    )
    jsonl = write(tmp_path / "c.jsonl", '{"id": 1}\n\n[1]\n{oops\n')
    checked = check_rows(jsonl_rows(jsonl), "patch")
    assert checked.rows == 3
    assert [(f.row, f.msg) for f in checked.failures] == [
        (2, "row: Input should be an object"),
        (3, "row: Invalid JSON: key must be a string at line 1 column 2"),
    ]


def test_check_names_every_bad_row_and_field(tmp_path: Path) -> None:
    source = write(
        tmp_path / "c.jsonl",
        '{"id": "a", "src": "http://h.test/a"}\n'
        '{"id": "b", "src": "ftp://h.test/b", "nsfw": "maybe"}\n'
        '{"id": "c", "title": "no src"}\n'
        '{"id": "a", "src": "http://h.test/a2"}\n'
        '{"id": "d/e", "src": "http://h.test/d", "colour": "red"}\n',
    )
    checked = check_rows(jsonl_rows(source), "add")
    assert checked.rows == 5
    found = {failure.row: failure.msg for failure in checked.failures}
    assert set(found) == {2, 3, 4, 5}
    assert "src: Value error, URL scheme must be http or https" in found[2]
    assert "nsfw: Input should be a valid boolean" in found[2]
    assert found[3] == "src: Field required"
    assert found[4] == "duplicate id 'a' (first at row 1)"
    assert "colour: Extra inputs are not permitted" in found[5]
    assert check_rows(jsonl_rows(source), "patch").failures[1].row == 4  # src optional


def test_fingerprint_follows_the_rows(tmp_path: Path) -> None:
    one = write(tmp_path / "1.jsonl", '{"id": "a", "title": "t"}\n')
    same = write(tmp_path / "2.jsonl", '  {"id": "a", "title": "t"}\n\n')
    other = write(tmp_path / "3.jsonl", '{"id": "a", "title": "u"}\n')
    prints = [check_rows(jsonl_rows(path), "patch").fingerprint for path in (one, same, other)]
    assert prints[0] == prints[1] != prints[2]


def test_folder_rows_name_images_by_relative_path(tmp_path: Path) -> None:
    (tmp_path / "trip" / "day 1").mkdir(parents=True)
    for name in ("trip/day 1/a.JPG", "b.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    rows = list(Source("folder", tmp_path, base_url="http://127.0.0.1:8080/").rows())
    assert [row.fields for row in rows] == [
        {"id": "b.png", "src": "http://127.0.0.1:8080/b.png"},
        {"id": "trip__day 1__a.JPG", "src": "http://127.0.0.1:8080/trip/day%201/a.JPG"},
    ]
    assert list(folder_rows(tmp_path / "trip" / "day 1", "http://h")) == [
        Row.of(1, {"id": "a.JPG", "src": "http://h/a.JPG"})
    ]
