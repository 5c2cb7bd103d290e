"""Request and response bodies of /imgs, with every validation rule of the contract."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
)

from pixsearch.vocabulary.fields import Lang

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_LOOSE_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")


def check_image_id(value: str | int) -> str:
    """Normalise an id to its stored string form, or raise ValueError naming the rule."""
    text = str(value)
    if not 1 <= len(text) <= 256:
        raise ValueError("image id must have 1 to 256 characters")
    if "/" in text:
        raise ValueError("image id must not contain '/'")
    if _CONTROL.search(text):
        raise ValueError("image id must not contain control characters")
    if text != text.strip():
        raise ValueError("image id must not start or end with white space")
    return text


def _check_http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"URL scheme must be http or https, not {parts.scheme or 'none'!r}")
    if not parts.hostname:
        raise ValueError("URL has no host")
    if _CONTROL.search(value) or " " in value:
        raise ValueError("URL must not contain white space or control characters")
    return value


def _normalise_date(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    match = _LOOSE_DATE.match(value.strip())
    if not match:
        raise ValueError("date must be YYYY-MM-DD")
    year, month, day = (int(part) for part in match.groups())
    try:
        return date(year, month, day).isoformat()
    except ValueError as error:
        raise ValueError(f"invalid date: {error}") from None


def _check_terms(values: list[str]) -> list[str]:
    for value in values:
        if not value.strip():
            raise ValueError("list elements must not be empty")
    return values


ImageId = Annotated[StrictStr | StrictInt, Field(description="Image id: string or integer.")]
HttpUrl = Annotated[str, Field(max_length=2048), AfterValidator(_check_http_url)]
ShortText = Annotated[str, Field(max_length=1000)]
LongText = Annotated[str, Field(max_length=20_000)]
Terms = Annotated[
    list[Annotated[str, Field(max_length=200)]],
    Field(max_length=1000),
    AfterValidator(_check_terms),
]
DateText = Annotated[str, BeforeValidator(_normalise_date)]


class ImageFields(BaseModel):
    """The writable fields of an image (section 2). Unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")

    src: HttpUrl | None = Field(None, description="Where the image is downloaded from.")
    url_img_watermark: HttpUrl | None = Field(None, description="Watermarked version's URL.")
    url_img_thumbnail: HttpUrl | None = Field(None, description="Thumbnail URL.")
    title: LongText | None = Field(None, description="Title.")
    headline: LongText | None = Field(None, description="Headline.")
    caption: LongText | None = Field(None, description="Caption.")
    alt_text: LongText | None = Field(None, description="Alternative text.")
    ai_generated: bool | None = Field(None, description="Made by a generative model.")
    model_release: bool | None = Field(None, description="A model release is on file.")
    property_release: bool | None = Field(None, description="A property release is on file.")
    nsfw: bool | None = Field(None, description="Not safe for work.")
    status: ShortText | None = Field(
        None, description="Active, Withdrawn, Reserved, RDA Only, or any string."
    )
    date: DateText | None = Field(None, description="YYYY-MM-DD (2005-5-13 is normalised).")
    location: ShortText | None = Field(None, description="Location.")
    city: ShortText | None = Field(None, description="City.")
    country: ShortText | None = Field(None, description="Country.")
    event: ShortText | None = Field(None, description="Event.")
    author: ShortText | None = Field(None, description="Author.")
    provider: ShortText | None = Field(None, description="Provider.")
    shot: ShortText | None = Field(None, description="Shot.")
    scene: ShortText | None = Field(None, description="Scene.")
    technique: ShortText | None = Field(None, description="Technique.")
    medium: ShortText | None = Field(None, description="Medium.")
    keywords: Terms | None = Field(None, description="Keywords.")
    categories: Terms | None = Field(None, description="Categories.")
    collections: Terms | None = Field(None, description="Collections.")

    def given(self) -> dict[str, Any]:
        """The fields the client sent (explicit nulls included), as stored in the queue."""
        return self.model_dump(exclude_unset=True, exclude={"id"})


class ImageBody(ImageFields):
    """A single-image body of PATCH. `id` may repeat the path's id but must then equal it."""

    id: ImageId | None = Field(None, description="Optional; must equal the path's id.")


class NewImageBody(ImageBody):
    """A single-image body of POST and PUT: `src` is required."""

    src: HttpUrl | None = Field(description="Where the image is downloaded from.")


class BatchImage(ImageFields):
    """One item of a batch PATCH: `id` is required."""

    id: ImageId = Field(description="The image's id.")


class NewBatchImage(BatchImage):
    """One item of a batch POST or PUT: `id` and `src` are required."""

    src: HttpUrl | None = Field(description="Where the image is downloaded from.")


class BatchDelete(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: ImageId = Field(description="The id of the image to delete.")


class DeleteQuery(BaseModel):
    """The query parameters of a delete (section 4), validated as one model: one pass per
    request instead of one per parameter."""

    wait: bool = Field(False, description="Answer when the operation has finished.")
    urgent: bool = Field(False, description="Run before every non-urgent operation.")
    strict: bool = Field(False, description="Fail on a missing id.")
    subset: bool = Field(False, description="Apply the items that succeed.")


class WriteQuery(DeleteQuery):
    """The query parameters of an add, replace or update (section 4)."""

    strict: bool = Field(False, description="Fail on an id conflict.")
    lang: Lang = Field("en", description="Language of generated keywords.")


class Accepted(BaseModel):
    """The 202 answer of an asynchronous write."""

    operation_id: int = Field(description="Poll GET /ops/{operation_id}.")
    n_total: int = Field(description="Items in the operation.")
    msg: str = Field(description="Human-readable summary.")


class Face(BaseModel):
    """One detected face of an image."""

    n: int = Field(description="The face's number in its image, from 1, largest first.")
    box: list[int] = Field(description="[x, y, width, height] in pixels of the oriented image.")
    score: float | None = Field(description="The detector's confidence (null for Haar).")


class ColorShare(BaseModel):
    """One dominant colour of a picture."""

    hex: str = Field(description="The colour as #rrggbb.")
    share: float = Field(description="Share of the picture it covers, 0 to 1.")


class Image(BaseModel):
    """An image as the API returns it: only the fields asked for, when `fields` is given."""

    image_id: str | None = Field(None, description="The image's id.")
    src: str | None = Field(None, description="Where the image was downloaded from.")
    url_img_watermark: str | None = Field(None, description="Watermarked version's URL.")
    url_img_thumbnail: str | None = Field(None, description="Thumbnail URL.")
    title: str | None = Field(None, description="Title.")
    headline: str | None = Field(None, description="Headline.")
    caption: str | None = Field(None, description="Caption.")
    alt_text: str | None = Field(None, description="Alternative text.")
    ai_generated: bool | None = Field(None, description="Made by a generative model.")
    model_release: bool | None = Field(None, description="A model release is on file.")
    property_release: bool | None = Field(None, description="A property release is on file.")
    nsfw: bool | None = Field(None, description="Not safe for work.")
    status: str | None = Field(None, description="Status.")
    location: str | None = Field(None, description="Location.")
    city: str | None = Field(None, description="City.")
    country: str | None = Field(None, description="Country.")
    event: str | None = Field(None, description="Event.")
    author: str | None = Field(None, description="Author.")
    provider: str | None = Field(None, description="Provider.")
    shot: str | None = Field(None, description="Shot.")
    scene: str | None = Field(None, description="Scene.")
    technique: str | None = Field(None, description="Technique.")
    medium: str | None = Field(None, description="Medium.")
    date: str | None = Field(None, description="YYYY-MM-DD.")
    keywords: list[str] | None = Field(None, description="Keywords.")
    categories: list[str] | None = Field(None, description="Categories.")
    collections: list[str] | None = Field(None, description="Collections.")
    width: int | None = Field(None, description="Width in pixels (computed).")
    height: int | None = Field(None, description="Height in pixels (computed).")
    aspect_ratio: float | None = Field(None, description="Width / height (computed).")
    orientation: str | None = Field(None, description="landscape, portrait or square (computed).")
    n_faces: int | None = Field(None, description="Faces detected (computed).")
    faces: list[Face] | None = Field(
        None,
        description="The faces detected, largest first (computed): their number, box and "
        "the detector's score; in search results only when asked for in `fields`.",
    )
    tags: list[str] | None = Field(
        None, description="Keywords generated from the pixels, in the write's `lang` (computed)."
    )
    ocr_text: str | None = Field(
        None, description="Text read in the picture, when OCR is on (computed)."
    )
    colors: list[ColorShare] | None = Field(
        None, description="Up to 5 dominant colours, largest first (computed)."
    )
