"""What the client raises: one exception per kind of answer, each carrying the server's detail.

ClientError
├── ValidationError        422: `errors` is the server's list of {loc, msg, type}
├── AuthenticationError    401: missing, unknown or revoked API key
├── NotFoundError          404
├── ConflictError          409: e.g. cancelling an operation that has started
├── PayloadTooLargeError   413: the body is over the server's limit
├── ServerError            5xx (after the retries)
└── ConnectionFailed       the service could not be reached (after the retries)
"""

from __future__ import annotations

from typing import Any


class ClientError(Exception):
    """An answer that is not a success; `status` is None when there was no answer."""

    def __init__(self, message: str, status: int | None = None, detail: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


class ValidationError(ClientError):
    @property
    def errors(self) -> list[dict[str, Any]]:
        return self.detail if isinstance(self.detail, list) else []


class AuthenticationError(ClientError):
    pass


class NotFoundError(ClientError):
    pass


class ConflictError(ClientError):
    pass


class PayloadTooLargeError(ClientError):
    pass


class ServerError(ClientError):
    pass


class ConnectionFailed(ClientError):
    pass


ERROR_OF_STATUS: dict[int, type[ClientError]] = {
    401: AuthenticationError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: ValidationError,
}


def error_of(status: int, detail: Any) -> ClientError:
    """The exception for an answer with this status and `detail` (the body's)."""
    cls = ERROR_OF_STATUS.get(status, ServerError if status >= 500 else ClientError)
    if isinstance(detail, list):
        message = "; ".join(
            f"{'.'.join(str(part) for part in item.get('loc', []))}: {item.get('msg')}"
            for item in detail
            if isinstance(item, dict)
        )
    else:
        message = str(detail)
    return cls(f"HTTP {status}: {message}", status, detail)
