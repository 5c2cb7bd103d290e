"""The field vocabulary is kept once: the schemas, the table and the typed row agree with it."""

from __future__ import annotations

from typing import get_type_hints

from pixsearch.db.tables import images
from pixsearch.images.schemas import Image, ImageFields
from pixsearch.vocabulary.fields import ANALYSED_COLUMNS, READABLE_FIELDS, WRITABLE_FIELDS
from pixsearch.vocabulary.rows import ImageRow


def test_the_writable_schema_has_exactly_the_writable_fields() -> None:
    assert set(ImageFields.model_fields) == set(WRITABLE_FIELDS)
    assert len(WRITABLE_FIELDS) == len(set(WRITABLE_FIELDS))


def test_the_image_answer_has_every_readable_field_in_order() -> None:
    assert tuple(Image.model_fields) == READABLE_FIELDS


def test_the_typed_row_has_every_column_of_the_table() -> None:
    assert list(get_type_hints(ImageRow)) == [column.name for column in images.columns]


def test_every_field_and_analysed_column_is_a_column() -> None:
    columns = set(images.columns.keys())
    assert set(READABLE_FIELDS) <= columns
    assert set(ANALYSED_COLUMNS) <= columns
