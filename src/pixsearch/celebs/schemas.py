"""Bodies and answers of /celebs."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from pixsearch.celebs.service import MAX_FACES, MAX_NAME


def check_name(name: str) -> str:
    """A person's name: 1-200 characters, no control characters or `/`, not only spaces."""
    if not name.strip():
        raise ValueError("a name must not be empty")
    if len(name) > MAX_NAME:
        raise ValueError(f"a name has at most {MAX_NAME} characters")
    if "/" in name or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ValueError("a name must not contain '/' or control characters")
    return name


class CelebBody(BaseModel):
    """The example faces of a person."""

    model_config = ConfigDict(extra="forbid")

    faces: list[str] = Field(
        min_length=1,
        max_length=MAX_FACES,
        description="Example faces as `<image id>_<face number>` (the value of `p~`), "
        "faces of the caller's images that have an identity.",
    )


class Celeb(BaseModel):
    name: str = Field(description="The name as first registered (spaces collapsed).")
    faces: list[str] = Field(description="The example faces, in the order they were added.")
    created_at: str = Field(description="ISO 8601, UTC.")
    updated_at: str = Field(description="ISO 8601, UTC.")
