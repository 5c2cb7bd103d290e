"""The address guard: which destinations a download may connect to, enforced at connect time.

Only globally routable unicast addresses pass by default. IPv6 forms that embed an IPv4
address (mapped, compatible, 6to4, NAT64) are judged by the IPv4 address they carry, so
`[::ffff:127.0.0.1]` is loopback. The operator may let networks through
(`fetch_allow_nets`); tests allow loopback that way.

The check runs inside the HTTP client's network backend: the backend resolves the host
itself, checks every address, and connects to a checked address, so there is no window
between the check and the connection for DNS rebinding to slip through. TLS still
verifies the certificate against the host name, and the Host header keeps the name.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence

import httpcore

from pixsearch.errors import FetchError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Resolves (host, port) to IP address strings.
Resolver = Callable[[str, int], Awaitable[list[str]]]

NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
SHARED_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
# A label of a host name; underscores occur in real DNS names, so they pass.
HOST_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")
# The last label must start with a letter: the OS resolver reads names such as
# `2130706433`, `0x7f000001` or `127.1` as IPv4 addresses, and no real top-level domain
# looks like that.
TOP_LABEL = re.compile(r"^[a-z]")


def parse_ip(ip: str) -> IPAddress | None:
    """The address `ip` denotes in standard notation, or None if it is not one."""
    try:
        return ipaddress.ip_address(ip)
    except ValueError:
        return None


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address that an IPv6 address carries (mapped, compatible, 6to4, NAT64)."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    value = int(address)
    if address in NAT64_WELL_KNOWN:
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    # IPv4-compatible (::a.b.c.d); `::` and `::1` are IPv6's own unspecified and loopback.
    if value >> 32 == 0 and value > 1:
        return ipaddress.IPv4Address(value)
    return None


def classify(address: IPAddress) -> str | None:
    """Why `address` is not a public unicast destination, or None when it is one."""
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private, shared address space", address in SHARED_CGNAT),
        ("private", address.is_private),
        ("not globally routable", not address.is_global),
    )
    return next((name for name, hit in checks if hit), None)


class AddressPolicy:
    """Decides whether a download may connect to an IP address."""

    def __init__(self, allow_nets: Sequence[str]) -> None:
        self.allow_nets = [ipaddress.ip_network(net, strict=False) for net in allow_nets]

    def is_allowed(self, ip: str) -> bool:
        """Whether a connection to `ip` is allowed."""
        return self.refusal(ip) is None

    def check(self, ip: str) -> None:
        """Raise FetchError naming the address class unless `ip` is allowed."""
        reason = self.refusal(ip)
        if reason is not None:
            raise FetchError(f"refused address {ip} ({reason})", cause="refused_address")

    def refusal(self, ip: str) -> str | None:
        """Why `ip` is refused, or None when it is allowed."""
        address = parse_ip(ip)
        if address is None:
            return "not an IP address"
        inner = embedded_ipv4(address)
        if self._allows(address) or (inner is not None and self._allows(inner)):
            return None
        if inner is None:
            return classify(address)
        reason = classify(inner)
        return None if reason is None else f"{reason}: embeds {inner}"

    def _allows(self, address: IPAddress) -> bool:
        return any(address.version == net.version and address in net for net in self.allow_nets)


def check_host(host: str) -> None:
    """Raise FetchError unless `host` is a standard IP address or a well-formed host name."""
    if parse_ip(host) is not None:
        return
    labels = host.lower().removesuffix(".").split(".")
    well_formed = (
        len(host) <= 253
        and all(HOST_LABEL.fullmatch(label) for label in labels)
        and TOP_LABEL.match(labels[-1]) is not None
    )
    if not well_formed:
        raise FetchError(
            f"invalid host {host!r} (not a well-formed host name or IP address)",
            cause="invalid_url",
        )


async def resolve_host(host: str, port: int) -> list[str]:
    """Every address the OS resolver gives for `host`, in its order of preference."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        transient = exc.errno == socket.EAI_AGAIN
        msg = f"cannot resolve host {host!r}: {exc.strerror}"
        raise FetchError(msg, transient=transient) from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def root_cause(exc: BaseException) -> str:
    """The innermost reason behind `exc` (anyio hides the OS error behind a summary)."""
    while True:
        inner = exc.__cause__
        if isinstance(inner, BaseExceptionGroup):
            inner = inner.exceptions[0]
        if inner is None:
            break
        exc = inner
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno)
    return str(exc) or type(exc).__name__


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """A network backend that resolves, checks every address, and connects to a checked one."""

    def __init__(
        self,
        policy: AddressPolicy,
        resolve: Resolver = resolve_host,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.policy = policy
        self.resolve = resolve
        self.inner = inner if inner is not None else httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Connect to the first reachable address of `host`, if every address is allowed."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        addresses = await self._resolve_checked(host, port, timeout)
        failures: list[str] = []
        for ip in addresses:
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                raise httpcore.ConnectTimeout(f"connecting to {host} timed out")
            try:
                return await self.inner.connect_tcp(
                    ip, port, remaining, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                failures.append(f"{ip} port {port}: {root_cause(exc)}")
        raise httpcore.ConnectError("; ".join(failures) or f"no address for {host}")

    async def _resolve_checked(self, host: str, port: int, timeout: float | None) -> list[str]:
        try:
            async with asyncio.timeout(timeout):
                addresses = await self.resolve(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        # One refused address refuses the host: a name that points into a private network
        # is not a public image host, whichever of its addresses would be tried first.
        for ip in addresses:
            self.policy.check(ip)
        return addresses

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Refuse: downloads go over TCP only."""
        raise FetchError(f"refused unix socket {path}", cause="refused_address")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)
