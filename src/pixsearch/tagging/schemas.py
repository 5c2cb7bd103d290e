"""The answer of POST /tag/image."""

from __future__ import annotations

from pydantic import BaseModel, Field

from pixsearch.images.schemas import ColorShare


class TagAnswer(BaseModel):
    """What was asked for, computed from the picture; nothing is stored."""

    lang: str = Field(description="Language of the keywords.")
    keywords: list[str] | None = Field(
        None, description="Generated keywords (as the `tags` of an image), with keywords=true."
    )
    ocr_text: str | None = Field(
        None, description="Text read in the picture (empty when none), with ocr=true."
    )
    colors: list[ColorShare] | None = Field(
        None, description="Up to 5 dominant colours, largest first, with colors=true."
    )
