"""Download an image's `src`: http(s) only, guarded addresses, capped size, bounded time.

Redirects are followed here, not by httpx, so that every hop is validated and counted.
Each attempt has one deadline for the whole download (all hops, headers and body), not
just a per-read timeout, so a server that trickles bytes cannot hold a worker forever.
Transient failures are retried with exponential backoff. The Content-Type header is kept
for information only: the decoder decides what is an image.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType

import httpx

from pixsearch import __version__
from pixsearch.config import Settings
from pixsearch.errors import FetchError
from pixsearch.ingest.guard import Resolver, check_host, resolve_host
from pixsearch.ingest.transport import GuardedTransport
from pixsearch.monitoring.metrics import Metrics

SCHEMES = ("http", "https")
TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
RETRY_AFTER_CAP_S = 5.0  # a server asking for longer gets this much; the item must not stall
HEADERS = {
    "User-Agent": f"pixsearch/{__version__}",
    "Accept": "image/*,*/*;q=0.5",
    # Images do not compress; identity keeps the byte cap about the bytes on the wire.
    "Accept-Encoding": "identity",
}


@dataclass(frozen=True)
class Fetched:
    """A downloaded body, the server's Content-Type, and the URL after redirects."""

    data: bytes
    content_type: str | None
    url: str


class StatusError(FetchError):
    """An HTTP error status, with the server's Retry-After hint for the retry loop."""

    def __init__(self, msg: str, *, transient: bool, retry_after_s: float | None) -> None:
        super().__init__(msg, transient=transient, cause="http_status")
        self.retry_after_s = retry_after_s


class HostSlots:
    """One semaphore per host, dropped when no download uses it."""

    def __init__(self, per_host: int) -> None:
        self.per_host = per_host
        self.slots: dict[str, tuple[asyncio.Semaphore, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, host: str) -> AsyncIterator[None]:
        """Hold one of `host`'s slots."""
        semaphore, users = self.slots.get(host, (asyncio.Semaphore(self.per_host), 0))
        self.slots[host] = (semaphore, users + 1)
        try:
            async with semaphore:
                yield
        finally:
            semaphore, users = self.slots[host]
            if users == 1:
                del self.slots[host]
            else:
                self.slots[host] = (semaphore, users - 1)


def parse_url(url: str | httpx.URL) -> httpx.URL:
    """`url` as an httpx URL, or FetchError if it is not an http(s) URL with a sound host."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise FetchError(f"invalid URL: {exc}", cause="invalid_url") from None
    if parsed.scheme not in SCHEMES:
        raise FetchError(f"unsupported scheme {parsed.scheme!r}", cause="invalid_url")
    if not parsed.host:
        raise FetchError("invalid URL: no host", cause="invalid_url")
    check_host(parsed.raw_host.decode("ascii"))
    return parsed


def redirect_target(url: httpx.URL, location: str) -> httpx.URL:
    """Where a redirect from `url` to `location` leads, checked like the first URL."""
    try:
        target = url.join(location)
    except httpx.InvalidURL as exc:
        raise FetchError(f"invalid redirect to {location!r}: {exc}", cause="invalid_url") from None
    return parse_url(target)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), if any."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def describe_transport_error(exc: httpx.TransportError, settings: Settings) -> FetchError:
    """A FetchError naming what went wrong on the wire."""
    if isinstance(exc, httpx.ConnectTimeout):
        return FetchError(
            f"connect timed out after {settings.fetch_connect_timeout_s:g} s",
            transient=True,
            cause="timeout",
        )
    if isinstance(exc, httpx.TimeoutException):
        return FetchError(
            f"timed out after {settings.fetch_timeout_s:g} s", transient=True, cause="timeout"
        )
    if isinstance(exc, httpx.ConnectError):
        return FetchError(f"connection failed: {exc}", transient=True)
    if isinstance(exc, httpx.NetworkError):
        return FetchError(f"connection lost: {exc}", transient=True)
    return FetchError(f"bad HTTP response: {exc}")


class Fetcher:
    """Downloads images with the address guard, limits, redirects and retries."""

    def __init__(
        self,
        settings: Settings,
        *,
        resolve: Resolver = resolve_host,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.client = httpx.AsyncClient(
            transport=GuardedTransport(settings, resolve),
            headers=HEADERS,
            timeout=httpx.Timeout(
                settings.fetch_timeout_s, connect=settings.fetch_connect_timeout_s
            ),
            follow_redirects=False,
            trust_env=False,
        )
        self.all_slots = asyncio.Semaphore(settings.fetch_concurrency)
        self.host_slots = HostSlots(settings.fetch_per_host)

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.client.aclose()

    async def fetch(self, url: str) -> Fetched:
        """Download `url`; raise FetchError naming the cause when it cannot be had."""
        if self.metrics is None:
            return await self._fetch(url)
        started = time.perf_counter()
        nbytes = 0
        try:
            fetched = await self._fetch(url)
            nbytes = len(fetched.data)
            return fetched
        finally:
            self.metrics.observe_fetch(nbytes, time.perf_counter() - started)

    async def _fetch(self, url: str) -> Fetched:
        """Download `url` with retries."""
        parse_url(url)
        attempt = 0
        while True:
            try:
                async with self.all_slots:
                    return await self._attempt(url)
            except FetchError as exc:
                if not exc.transient or attempt >= self.settings.fetch_retries:
                    raise
                await asyncio.sleep(self._retry_delay(attempt, exc))
                attempt += 1

    def _retry_delay(self, attempt: int, exc: FetchError) -> float:
        delay: float = self.settings.fetch_backoff_s * 2**attempt
        if isinstance(exc, StatusError) and exc.retry_after_s is not None:
            delay = max(delay, min(exc.retry_after_s, RETRY_AFTER_CAP_S))
        return delay

    async def _attempt(self, url: str) -> Fetched:
        """One try: follow redirects within one deadline that starts with the first hop."""
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        current = parse_url(url)
        for _ in range(self.settings.fetch_max_redirects + 1):
            # Waiting for a host's slot is queueing, not downloading: the clock starts after.
            async with self.host_slots.hold(current.host):
                if deadline is None:
                    deadline = loop.time() + self.settings.fetch_timeout_s
                try:
                    async with asyncio.timeout_at(deadline):
                        outcome = await self._request(current)
                except TimeoutError:
                    raise FetchError(
                        f"timed out after {self.settings.fetch_timeout_s:g} s",
                        transient=True,
                        cause="timeout",
                    ) from None
            if isinstance(outcome, Fetched):
                return outcome
            current = outcome
        raise FetchError(
            f"too many redirects (more than {self.settings.fetch_max_redirects})",
            cause="too_many_redirects",
        )

    async def _request(self, url: httpx.URL) -> Fetched | httpx.URL:
        """The body at `url`, or the next URL when it redirects."""
        try:
            async with self.client.stream("GET", url) as response:
                if response.status_code in REDIRECT_STATUSES and "location" in response.headers:
                    return redirect_target(url, response.headers["location"])
                self._check_status(response)
                data = await self._read_capped(response)
        except httpx.TransportError as exc:
            raise describe_transport_error(exc, self.settings) from exc
        return Fetched(data, response.headers.get("content-type"), str(url))

    def _check_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        raise StatusError(
            f"HTTP {status} from {response.url.netloc.decode('ascii')}",
            transient=status in TRANSIENT_STATUSES,
            retry_after_s=parse_retry_after(response.headers.get("retry-after")),
        )

    async def _read_capped(self, response: httpx.Response) -> bytes:
        """The body, refused as soon as it is known to exceed the byte cap."""
        limit = self.settings.fetch_max_bytes
        too_large = FetchError(f"too large: more than {limit} bytes", cause="too_large")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_large
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
        return b"".join(chunks)
