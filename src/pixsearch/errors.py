"""Every domain error. Services raise these; `app.py` maps them to HTTP answers in one place.

PixsearchError
├── NotFound              404: unknown id, or an id of another organisation
├── Conflict              409: e.g. cancelling an operation that already started
├── InvalidInput          422: a value that passed the schema but is still wrong
│   └── QuerySyntaxError  422 on ("query", "q"): a malformed search formula
├── Unauthorized          401: missing, unknown or revoked API key
└── ItemError             one item of an operation failed; never reaches HTTP
    ├── FetchError        the download failed (status, timeout, too large, refused address)
    └── DecodeError       the bytes are not an image we can read, or too many pixels
"""

from __future__ import annotations


class PixsearchError(Exception):
    """Base of every error pixsearch raises on purpose."""


class NotFound(PixsearchError):
    pass


class Conflict(PixsearchError):
    pass


class Unauthorized(PixsearchError):
    pass


class InvalidInput(PixsearchError):
    """A 422 that names where the problem is, as FastAPI's `loc` does."""

    def __init__(self, loc: tuple[str | int, ...], msg: str, type_: str = "value_error") -> None:
        super().__init__(msg)
        self.loc = loc
        self.msg = msg
        self.type = type_


class QuerySyntaxError(InvalidInput):
    """A malformed search formula; `msg` names the position and what was expected."""

    def __init__(self, msg: str, position: int | None = None) -> None:
        super().__init__(("query", "q"), msg, "query_syntax")
        self.position = position


class ItemError(PixsearchError):
    """One item failed; its message becomes the item's entry in the operation's errors."""


class FetchError(ItemError):
    """Downloading `src` failed. `transient` failures are worth retrying."""

    def __init__(self, msg: str, *, transient: bool = False) -> None:
        super().__init__(msg)
        self.transient = transient


class DecodeError(ItemError):
    pass
