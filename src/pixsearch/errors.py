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

Every ItemError names its `cause`, one of `ITEM_CAUSES`: the `cause` label of the
`pixsearch_item_failures_total` metric and the `cause` field of the item's log line.
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


# Why items fail: a small fixed set, so that it can be a metric label.
ITEM_CAUSES = (
    "http_status",  # the image host answered an error status
    "timeout",  # connect or download time limit
    "connection",  # the host could not be resolved or reached, or broke the connection
    "refused_address",  # the address guard refused where the URL leads
    "invalid_url",  # not an http(s) URL with a sound host, or a bad redirect
    "too_many_redirects",
    "too_large",  # more bytes than PIXSEARCH_FETCH_MAX_BYTES
    "too_many_pixels",  # more pixels than PIXSEARCH_MAX_PIXELS
    "not_an_image",  # bytes that do not decode as a supported image
    "strict_conflict",  # strict mode: the id exists (add) or is missing (upd, del)
    "internal",  # a failure of pixsearch itself (see the log)
)


class ItemError(PixsearchError):
    """One item failed; its message becomes the item's entry in the operation's errors."""

    cause = "internal"

    def __init__(self, msg: str, *, cause: str | None = None) -> None:
        super().__init__(msg)
        if cause is not None:
            self.cause = cause


class FetchError(ItemError):
    """Downloading `src` failed. `transient` failures are worth retrying."""

    cause = "connection"

    def __init__(self, msg: str, *, transient: bool = False, cause: str | None = None) -> None:
        super().__init__(msg, cause=cause)
        self.transient = transient


class DecodeError(ItemError):
    cause = "not_an_image"
