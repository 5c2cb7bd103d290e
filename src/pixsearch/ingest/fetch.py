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
from collections.abc import AsyncIterator, Hashable
from dataclasses import dataclass
from types import TracebackType

import httpx

from pixsearch import __version__
from pixsearch.config import Settings
from pixsearch.errors import FetchError
from pixsearch.ingest.guard import Resolver, check_host, parse_ip, resolve_host
from pixsearch.ingest.slots import FairShare, KeyedSlots
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


class AttemptTimeout(FetchError):
    """An attempt ran out of time (its own limit, or what was left of the item's)."""

    def __init__(self, limit_s: float) -> None:
        super().__init__(f"timed out after {limit_s:g} s", transient=True, cause="timeout")


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
        return AttemptTimeout(settings.fetch_timeout_s)
    if isinstance(exc, httpx.ConnectError):
        return FetchError(f"connection failed: {exc}", transient=True)
    if isinstance(exc, httpx.NetworkError):
        return FetchError(f"connection lost: {exc}", transient=True)
    return FetchError(f"bad HTTP response: {exc}")


class ItemClock:
    """One deadline for an item's whole download, all attempts included. It starts when
    the first attempt gets its slots: waiting for a busy host is queueing, not fetching."""

    def __init__(self, limit_s: float) -> None:
        self.limit_s = limit_s
        self.started: float | None = None
        self.attempts = 0

    def start_attempt(self, attempt_s: float) -> float:
        """Count an attempt; the loop time by which it must end."""
        now = asyncio.get_running_loop().time()
        if self.started is None:
            self.started = now
        self.attempts += 1
        return min(now + attempt_s, self.started + self.limit_s)

    def remaining(self) -> float:
        if self.started is None:
            return self.limit_s
        return self.started + self.limit_s - asyncio.get_running_loop().time()

    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        return asyncio.get_running_loop().time() - self.started


def seconds(value: float) -> str:
    """A duration for a message: whole seconds, or tenths below ten."""
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def final_error(exc: FetchError, clock: ItemClock) -> FetchError:
    """The error an item ends with: what happened, over how many attempts and how long."""
    if clock.attempts <= 1:
        return exc
    took = f"{clock.attempts} attempts in {seconds(clock.elapsed())} s"
    if isinstance(exc, AttemptTimeout):
        return FetchError(f"timed out after {took}", transient=True, cause="timeout")
    return FetchError(f"{exc} (after {took})", transient=exc.transient, cause=exc.cause)


ADDRESS_CACHE_S = 30.0  # how long a host's resolved address keys its connection limit
ADDRESS_CACHE_SIZE = 10_000


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
        self.resolve = resolve
        # Downloads of all operations share these fairly; each host name and each address
        # connected to (a name may hide many hosts, many names one host) is bounded alone.
        self.all_slots = FairShare(settings.fetch_concurrency)
        self.host_slots = KeyedSlots(settings.fetch_per_host)
        self.address_slots = KeyedSlots(settings.fetch_per_host)
        self.addresses: dict[tuple[str, int], tuple[float, tuple[str, int]]] = {}

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

    async def fetch(self, url: str, flow: Hashable = None) -> Fetched:
        """Download `url`; raise FetchError naming the cause when it cannot be had.

        `flow` (the operation) is what the download slots are shared fairly between.
        """
        if self.metrics is None:
            return await self._fetch(url, flow)
        started = time.perf_counter()
        nbytes = 0
        try:
            fetched = await self._fetch(url, flow)
            nbytes = len(fetched.data)
            return fetched
        finally:
            self.metrics.observe_fetch(nbytes, time.perf_counter() - started)

    async def _fetch(self, url: str, flow: Hashable) -> Fetched:
        """Download `url` with retries, within the item's deadline."""
        parse_url(url)
        clock = ItemClock(self.settings.fetch_item_timeout_s)
        while True:
            try:
                return await self._attempt(url, clock, flow)
            except FetchError as exc:
                delay = self._retry_delay(clock.attempts - 1, exc)
                retry = exc.transient and clock.attempts <= self.settings.fetch_retries
                if not retry or clock.remaining() <= delay:
                    raise final_error(exc, clock) from None
                await asyncio.sleep(delay)

    def _retry_delay(self, attempt: int, exc: FetchError) -> float:
        delay: float = self.settings.fetch_backoff_s * 2**attempt
        if isinstance(exc, StatusError) and exc.retry_after_s is not None:
            delay = max(delay, min(exc.retry_after_s, RETRY_AFTER_CAP_S))
        return delay

    async def _attempt(self, url: str, clock: ItemClock, flow: Hashable) -> Fetched:
        """One try: follow redirects within one deadline that starts with the first hop."""
        deadline: float | None = None
        current = parse_url(url)
        for _ in range(self.settings.fetch_max_redirects + 1):
            async with self._slots(current, flow):
                if deadline is None:
                    deadline = clock.start_attempt(self.settings.fetch_timeout_s)
                    limit_s = min(self.settings.fetch_timeout_s, clock.remaining())
                try:
                    async with asyncio.timeout_at(deadline):
                        outcome = await self._request(current)
                except TimeoutError:
                    raise AttemptTimeout(limit_s) from None
            if isinstance(outcome, Fetched):
                return outcome
            current = outcome
        raise FetchError(
            f"too many redirects (more than {self.settings.fetch_max_redirects})",
            cause="too_many_redirects",
        )

    @contextlib.asynccontextmanager
    async def _slots(self, url: httpx.URL, flow: Hashable) -> AsyncIterator[None]:
        """A slot of the host (name and port), of the address it connects to, then a
        download slot: items that wait for a busy host hold nothing other hosts need."""
        port = url.port or (443 if url.scheme == "https" else 80)
        address = await self._address_of(url.host, port)
        async with (
            self.host_slots.hold((url.host, port)),
            self.address_slots.hold(address),
            self.all_slots.slot(flow),
        ):
            yield

    async def _address_of(self, host: str, port: int) -> tuple[str, int]:
        """The (address, port) a download from `host` connects to, for its connection limit.

        Resolved here only to key the limit, and cached briefly; the guard resolves again
        and checks what it connects to. A name that does not resolve keys by itself (the
        connection then fails with the resolver's own error)."""
        if parse_ip(host) is not None:
            return host, port
        now = asyncio.get_running_loop().time()
        cached = self.addresses.get((host, port))
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            async with asyncio.timeout(self.settings.fetch_connect_timeout_s):
                found = await self.resolve(host, port)
            key = (found[0], port) if found else (host, port)
        except (FetchError, TimeoutError, OSError):
            key = (host, port)
        if len(self.addresses) > ADDRESS_CACHE_SIZE:
            self.addresses.clear()
        self.addresses[(host, port)] = (now + ADDRESS_CACHE_S, key)
        return key

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
