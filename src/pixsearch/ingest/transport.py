"""The connect-time transport of downloads: httpcore pools whose every connection passes
the address guard (`guard.py`), wrapped as an httpx transport with httpx's errors."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Iterator

import httpcore
import httpx

from pixsearch.config import Settings
from pixsearch.ingest.guard import AddressPolicy, GuardedBackend, Resolver, resolve_host

KEEPALIVE_S = 5.0

# httpcore's errors as httpx's, most specific first (as httpx's own transport maps them).
HTTPCORE_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
)


@contextlib.contextmanager
def map_httpcore_errors() -> Iterator[None]:
    """Re-raise httpcore's errors as the matching httpx errors."""
    try:
        yield
    except Exception as exc:
        mapped = next((new for old, new in HTTPCORE_ERRORS if isinstance(exc, old)), None)
        if mapped is None:
            raise
        raise mapped(str(exc)) from exc


class GuardedStream(httpx.AsyncByteStream):
    """A response body from httpcore, with its errors mapped to httpx's."""

    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self.stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with map_httpcore_errors():
            async for part in self.stream:
                yield part

    async def aclose(self) -> None:
        aclose = getattr(self.stream, "aclose", None)
        if aclose is not None:
            with map_httpcore_errors():
                await aclose()


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport over httpcore pools whose connections pass the address guard.

    One pool per scheme, each made on first use: loading the CA bundle for TLS takes tens
    of milliseconds, which a process that never fetches over https need not pay.
    """

    def __init__(self, settings: Settings, resolve: Resolver = resolve_host) -> None:
        self.settings = settings
        self.backend = GuardedBackend(AddressPolicy(settings.fetch_allow_nets), resolve)
        self.pools: dict[bytes, httpcore.AsyncConnectionPool] = {}

    def pool_for(self, scheme: bytes) -> httpcore.AsyncConnectionPool:
        """The connection pool for `scheme`, made on first use."""
        if scheme not in self.pools:
            self.pools[scheme] = httpcore.AsyncConnectionPool(
                ssl_context=httpx.create_ssl_context() if scheme == b"https" else None,
                max_connections=self.settings.fetch_concurrency,
                max_keepalive_connections=self.settings.fetch_concurrency,
                keepalive_expiry=KEEPALIVE_S,
                network_backend=self.backend,
            )
        return self.pools[scheme]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send `request` through the guarded pool."""
        assert isinstance(request.stream, httpx.AsyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with map_httpcore_errors():
            pool = self.pool_for(request.url.raw_scheme)
            response = await pool.handle_async_request(core_request)
        assert isinstance(response.stream, AsyncIterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=GuardedStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        for pool in self.pools.values():
            await pool.aclose()
