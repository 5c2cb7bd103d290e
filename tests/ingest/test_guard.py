"""The address guard: which addresses pass, and that the check is on the address connected to."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from pixsearch.errors import FetchError
from pixsearch.ingest.guard import AddressPolicy, GuardedBackend, check_host, resolve_host

# (address, why it is refused, or None when a default policy lets it through)
DEFAULT_POLICY = [
    ("8.8.8.8", None),
    ("93.184.215.14", None),
    ("2606:4700:4700::1111", None),
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("100.64.0.1", "private, shared address space"),
    ("169.254.169.254", "link-local"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("0.0.0.0", "unspecified"),
    ("192.0.2.1", "private"),  # documentation range
    ("::", "unspecified"),
    ("::1", "loopback"),
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("ff02::1", "multicast"),
    ("2001:db8::1", "private"),
    # IPv6 forms that carry an IPv4 address are judged by that address.
    ("::ffff:127.0.0.1", "loopback: embeds 127.0.0.1"),
    ("::ffff:10.0.0.1", "private: embeds 10.0.0.1"),
    ("::ffff:169.254.169.254", "link-local: embeds 169.254.169.254"),
    ("::127.0.0.1", "loopback: embeds 127.0.0.1"),
    ("2002:7f00:1::", "loopback: embeds 127.0.0.1"),
    ("2002:c0a8:101::1", "private: embeds 192.168.1.1"),
    ("64:ff9b::a9fe:a9fe", "link-local: embeds 169.254.169.254"),
    ("64:ff9b::7f00:1", "loopback: embeds 127.0.0.1"),
    ("64:ff9b::808:808", None),
    ("64:ff9b:1::a00:1", "reserved"),  # local-use NAT64 (RFC 8215) lies in ::/8
    ("not-an-ip", "not an IP address"),
    ("2130706433", "not an IP address"),
]


@pytest.mark.parametrize(("ip", "reason"), DEFAULT_POLICY)
def test_default_policy_passes_only_public_unicast(ip: str, reason: str | None) -> None:
    policy = AddressPolicy([])
    assert policy.refusal(ip) == reason
    assert policy.is_allowed(ip) is (reason is None)


def test_check_names_the_address_and_its_class() -> None:
    with pytest.raises(FetchError, match=r"^refused address 10\.0\.0\.1 \(private\)$") as caught:
        AddressPolicy([]).check("10.0.0.1")
    assert caught.value.transient is False
    AddressPolicy([]).check("8.8.8.8")


def test_allowed_networks_let_refused_addresses_through() -> None:
    policy = AddressPolicy(["127.0.0.0/8", "::1/128", "10.1.0.0/16"])
    for ip in ("127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1", "10.1.2.3", "8.8.8.8"):
        assert policy.is_allowed(ip), ip
    for ip in ("10.2.0.1", "192.168.1.1", "::ffff:10.2.0.1", "fe80::1", "0.0.0.0"):
        assert not policy.is_allowed(ip), ip


def test_allowing_one_address_allows_no_neighbour() -> None:
    policy = AddressPolicy(["127.0.0.1/32"])
    assert policy.is_allowed("127.0.0.1")
    assert not policy.is_allowed("127.0.0.2")
    assert not policy.is_allowed("::1")


@pytest.mark.parametrize(
    "host",
    [
        "example.com",
        "localhost",
        "LOCALHOST.",
        "a-b.example.co.uk",
        "xn--bcher-kva.example",
        "img_1.cdn.example",
        "8.8.8.8",
        "::1",
        "::ffff:127.0.0.1",
        "cdn1.example",
    ],
)
def test_check_host_accepts_names_and_standard_addresses(host: str) -> None:
    check_host(host)


@pytest.mark.parametrize(
    "host",
    [
        "2130706433",
        "0x7f000001",
        "0x7f.0.0.1",
        "127.1",
        "0177.0.0.1",
        "1.2.3.4.5",
        "127.0.0.1.",
        "-bad.example",
        "bad-.example",
        "a..b",
        "",
        "exa mple.com",
        "a" * 64 + ".com",
    ],
)
def test_check_host_refuses_numbers_the_resolver_would_read_as_addresses(host: str) -> None:
    with pytest.raises(FetchError, match="not a well-formed host name or IP address"):
        check_host(host)


@pytest.mark.parametrize("host", ["2130706433", "0177.0.0.1", "0x7f000001", "0x7f.0.0.1", "127.1"])
async def test_the_os_resolver_reads_odd_notations_as_loopback(host: str) -> None:
    """Why the guard judges resolved addresses, not the host as written."""
    assert await resolve_host(host, 80) == ["127.0.0.1"]


class Listener:
    """A bare listening socket on loopback: tells whether anyone connected."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.setblocking(False)
        self.port: int = self.sock.getsockname()[1]

    def connections(self) -> int:
        count = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                return count
            conn.close()
            count += 1


@pytest.fixture
def listener() -> Iterator[Listener]:
    bare = Listener()
    yield bare
    bare.sock.close()


@pytest.mark.parametrize(
    "host", ["2130706433", "0177.0.0.1", "0x7f000001", "127.1", "127.0.0.1", "localhost"]
)
async def test_backend_refuses_loopback_in_any_notation_before_connecting(
    host: str, listener: Listener
) -> None:
    backend = GuardedBackend(AddressPolicy(["192.0.2.0/24"]))
    with pytest.raises(FetchError, match=r"refused address 127\.0\.0\.1 \(loopback\)"):
        await backend.connect_tcp(host, listener.port, timeout=1.0)
    assert listener.connections() == 0


async def test_backend_connects_to_the_address_it_checked(listener: Listener) -> None:
    backend = GuardedBackend(AddressPolicy(["127.0.0.1/32"]))
    stream = await backend.connect_tcp("2130706433", listener.port, timeout=1.0)
    try:
        assert stream.get_extra_info("server_addr") == ("127.0.0.1", listener.port)
        assert listener.connections() == 1
    finally:
        await stream.aclose()


async def test_each_connection_resolves_and_checks_again(listener: Listener) -> None:
    """DNS rebinding: a name that turns private after a first good answer is refused."""
    answers = [["127.0.0.1"], ["10.0.0.1"]]

    async def rebinding(host: str, port: int) -> list[str]:
        return answers.pop(0)

    backend = GuardedBackend(AddressPolicy(["127.0.0.1/32"]), rebinding)
    stream = await backend.connect_tcp("rebind.example", listener.port, timeout=0.2)
    await stream.aclose()
    with pytest.raises(FetchError, match=r"refused address 10\.0\.0\.1 \(private\)"):
        await backend.connect_tcp("rebind.example", listener.port, timeout=0.2)
    assert listener.connections() == 1


async def test_one_private_address_refuses_the_whole_name(listener: Listener) -> None:
    async def mixed(host: str, port: int) -> list[str]:
        return ["127.0.0.1", "192.168.0.10"]

    backend = GuardedBackend(AddressPolicy(["127.0.0.1/32"]), mixed)
    with pytest.raises(FetchError, match=r"refused address 192\.168\.0\.10 \(private\)"):
        await backend.connect_tcp("mixed.example", listener.port, timeout=0.2)
    assert listener.connections() == 0


async def test_backend_tries_the_next_address_when_one_does_not_answer(
    listener: Listener,
) -> None:
    async def two(host: str, port: int) -> list[str]:
        return ["127.0.0.2", "127.0.0.1"]

    backend = GuardedBackend(AddressPolicy(["127.0.0.0/8"]), two)
    # Nothing listens on 127.0.0.2 (the listener is bound to 127.0.0.1 only).
    stream = await backend.connect_tcp("two.example", listener.port, timeout=1.0)
    assert stream.get_extra_info("server_addr") == ("127.0.0.1", listener.port)
    await stream.aclose()


async def test_unix_sockets_are_refused() -> None:
    with pytest.raises(FetchError, match="refused unix socket"):
        await GuardedBackend(AddressPolicy([])).connect_unix_socket("/var/run/docker.sock")
