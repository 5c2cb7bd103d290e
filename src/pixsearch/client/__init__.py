"""The pixsearch API from Python: `Client` (blocking) and `AsyncClient` (asyncio), on httpx.

    from pixsearch.client import Client

    with Client("http://127.0.0.1:8000", api_key) as client:
        answer = client.add("42", src="https://example.com/a.jpg", title="A red car")
        operation = client.wait_for(answer)

Results are the server's own schemas (Operation, Accepted, Image, Hit, SearchAnswer). Every
write carries an `Idempotency-Key`, so the retries after a timeout never queue twice.
See docs/client.md.
"""

from pixsearch.client.aio import AsyncClient
from pixsearch.client.calls import WriteResult
from pixsearch.client.errors import (
    AuthenticationError,
    ClientError,
    ConflictError,
    ConnectionFailed,
    NotFoundError,
    PayloadTooLargeError,
    ServerError,
    ValidationError,
)
from pixsearch.client.sync import Client
from pixsearch.images.schemas import Accepted, Image
from pixsearch.operations.schemas import ItemErrorOut, Operation
from pixsearch.search.schemas import FacetValue, Hit, SearchAnswer

__all__ = [
    "Accepted",
    "AsyncClient",
    "AuthenticationError",
    "Client",
    "ClientError",
    "ConflictError",
    "ConnectionFailed",
    "FacetValue",
    "Hit",
    "Image",
    "ItemErrorOut",
    "NotFoundError",
    "Operation",
    "PayloadTooLargeError",
    "SearchAnswer",
    "ServerError",
    "ValidationError",
    "WriteResult",
]
