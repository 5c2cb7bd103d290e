"""The error answers every endpoint may give, as schemas, so that the OpenAPI document
lists them with the shapes of spec/API.md section 1 (`app.py` renders them)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Message(BaseModel):
    """An error that says what went wrong in one sentence."""

    detail: str = Field(description="What went wrong.")


class Problem(BaseModel):
    """One reason a request was refused, FastAPI's validation shape."""

    loc: list[str | int] = Field(description="Where: body, query or path, then the field.")
    msg: str = Field(description="What is wrong with it.")
    type: str = Field(description="A short code, e.g. missing, value_error, query_syntax.")


class Problems(BaseModel):
    """The 422 answer: every problem found."""

    detail: list[Problem] = Field(description="The problems, each naming its field.")


Answers = dict[int | str, dict[str, Any]]


def query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """The OpenAPI entries of `model`'s fields as query parameters, as FastAPI writes those
    of `Annotated[model, Query()]`: for routes that read their query themselves."""
    schema = model.model_json_schema()
    required = set(schema.get("required", ()))
    return [
        {
            "name": name,
            "in": "query",
            "required": name in required,
            "description": field.get("description"),
            "schema": field,
        }
        for name, field in schema["properties"].items()
    ]


def error_answers(*statuses: int) -> Answers:
    """The `responses=` of a route for these error statuses."""
    return {status: ERRORS[status] for status in statuses}


ERRORS: Answers = {
    401: {"model": Message, "description": "Missing, unknown or revoked API key."},
    404: {"model": Message, "description": "Unknown id, or an id of another organisation."},
    409: {"model": Message, "description": "The operation has already started."},
    413: {"model": Message, "description": "The request body is over the size limit."},
    422: {"model": Problems, "description": "A value is invalid; `loc` names it."},
}
