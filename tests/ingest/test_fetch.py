"""The fetcher against a real HTTP server on loopback: limits, redirects, retries, the guard."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator, Mapping
from urllib.parse import quote

import pytest

from pixsearch.errors import DecodeError, FetchError
from pixsearch.ingest import fetch as fetch_module
from pixsearch.ingest.decode import decode_image
from pixsearch.ingest.fetch import Fetched, Fetcher
from tests.imageserver import ImageServer, make_jpeg
from tests.ingest.conftest import MakeSettings


async def fetch_once(settings_kw: Mapping[str, object], make: MakeSettings, url: str) -> Fetched:
    async with Fetcher(make(**settings_kw)) as fetcher:
        return await fetcher.fetch(url)


async def test_fetch_returns_the_bytes_type_and_url(
    server: ImageServer, make_settings: MakeSettings
) -> None:
    data = make_jpeg(80, 60, 1)
    server.add("/photos/a.jpg", data)
    fetched = await fetch_once({}, make_settings, server.url("/photos/a.jpg"))
    assert fetched == Fetched(data, "image/jpeg", server.url("/photos/a.jpg"))
    assert server.hits("/photos/a.jpg") == 1


async def test_fetch_keeps_the_host_name_while_connecting_to_the_checked_address(
    server: ImageServer, make_settings: MakeSettings
) -> None:
    async def images_example(host: str, port: int) -> list[str]:
        assert host == "images.example"
        return ["127.0.0.1"]

    async with Fetcher(make_settings(), resolve=images_example) as fetcher:
        fetched = await fetcher.fetch(f"http://images.example:{server.port}/img/named.png")
    assert fetched.data.startswith(b"\x89PNG")
    assert server.headers("/img/named.png")["host"] == f"images.example:{server.port}"


async def test_a_name_resolving_to_a_private_address_is_refused(
    make_settings: MakeSettings,
) -> None:
    async def intranet(host: str, port: int) -> list[str]:
        return ["10.1.2.3"]

    settings = make_settings(fetch_connect_timeout_s=0.2, fetch_retries=0)
    async with Fetcher(settings, resolve=intranet) as fetcher:
        with pytest.raises(FetchError, match=r"refused address 10\.1\.2\.3 \(private\)"):
            await fetcher.fetch("http://intranet.example/a.jpg")


async def test_localhost_is_refused_unless_loopback_is_allowed(
    server: ImageServer, make_settings: MakeSettings
) -> None:
    url = f"http://localhost:{server.port}/img/local.jpg"
    with pytest.raises(FetchError, match=r"refused address 127\.0\.0\.1 \(loopback\)"):
        await fetch_once({"fetch_allow_nets": ["192.0.2.0/24"]}, make_settings, url)
    assert server.hits("/img/local.jpg") == 0
    assert (await fetch_once({}, make_settings, url)).data.startswith(b"\xff\xd8")


# Each would reach the test server on loopback if the guard let it through.
LOOPBACK_BYPASSES = [
    "http://2130706433:{port}{path}",
    "http://0177.0.0.1:{port}{path}",
    "http://0x7f000001:{port}{path}",
    "http://0x7f.0.0.1:{port}{path}",
    "http://127.1:{port}{path}",
    "http://[::ffff:127.0.0.1]:{port}{path}",
    "http://[::ffff:7f00:1]:{port}{path}",
    "http://0.0.0.0:{port}{path}",
    "http://[::]:{port}{path}",
    "http://[::1]:{port}{path}",
    "http://127.0.0.1:{port}{path}",
    "http://127.0.0.1.:{port}{path}",
    "http://localhost:{port}{path}",
]


@pytest.mark.parametrize("template", LOOPBACK_BYPASSES)
async def test_loopback_in_any_notation_is_refused_and_never_reached(
    template: str, server: ImageServer, make_settings: MakeSettings
) -> None:
    path = f"/img/bypass-{abs(hash(template))}.jpg"
    url = template.format(port=server.port, path=path)
    settings = {"fetch_allow_nets": [], "fetch_retries": 0}
    with pytest.raises(FetchError, match=r"refused address|invalid host|invalid URL") as caught:
        await fetch_once(settings, make_settings, url)
    assert caught.value.transient is False
    assert server.hits(path) == 0


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://10.0.0.1/", "private"),
        ("http://172.16.0.1:8080/", "private"),
        ("http://192.168.1.1/", "private"),
        ("http://100.64.0.1/", "private, shared address space"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://[fd00::1]/", "private"),
        ("http://224.0.0.1/", "multicast"),
        ("http://[ff02::1]/", "multicast"),
        ("http://240.0.0.1/", "reserved"),
        ("http://[::ffff:169.254.169.254]/", "link-local"),
        ("http://[64:ff9b::a00:1]/", "private"),
    ],
)
async def test_non_public_destinations_are_refused_before_connecting(
    url: str, reason: str, make_settings: MakeSettings
) -> None:
    # A tiny connect timeout: were the guard broken, no real connection attempt could last.
    settings = {"fetch_allow_nets": [], "fetch_connect_timeout_s": 0.05, "fetch_retries": 0}
    started = time.perf_counter()
    with pytest.raises(FetchError, match=rf"^refused address \S+ \({reason}"):
        await fetch_once(settings, make_settings, url)
    assert time.perf_counter() - started < 1.0


@pytest.fixture
def second_server() -> Iterator[ImageServer]:
    """A server on 127.0.0.2, another loopback address (Linux routes all of 127/8 to lo)."""
    try:
        other = ImageServer(host="127.0.0.2")
    except OSError as exc:
        pytest.skip(f"cannot listen on 127.0.0.2: {exc}")
    with other:
        yield other


async def test_a_redirect_into_a_refused_network_is_refused(
    server: ImageServer, second_server: ImageServer, make_settings: MakeSettings
) -> None:
    target = second_server.url("/img/secret.jpg")
    first = f"/redirect?to={quote(target, safe='')}"
    with pytest.raises(FetchError, match=r"refused address 127\.0\.0\.2 \(loopback\)"):
        await fetch_once({"fetch_allow_nets": ["127.0.0.1/32"]}, make_settings, server.url(first))
    assert server.hits(first) == 1
    assert second_server.hits("/img/secret.jpg") == 0
    # The same hop is followed once its network is allowed: the refusal was the guard's.
    allowed = {"fetch_allow_nets": ["127.0.0.1/32", "127.0.0.2/32"]}
    assert (await fetch_once(allowed, make_settings, server.url(first))).url == target


@pytest.mark.parametrize(
    ("target", "error"),
    [
        ("http://localhost:{port}/img/r.jpg", r"refused address 127\.0\.0\.1 \(loopback\)"),
        ("http://127.0.0.1:{port}/img/r.jpg", r"refused address 127\.0\.0\.1 \(loopback\)"),
        ("http://[::ffff:127.0.0.1]:{port}/img/r.jpg", r"refused address ::ffff:127\.0\.0\.1"),
        ("http://[::1]:{port}/img/r.jpg", r"refused address ::1 \(loopback\)"),
        ("http://2130706433:{port}/img/r.jpg", "invalid host '2130706433'"),
        ("http://0x7f000001:{port}/img/r.jpg", "invalid host '0x7f000001'"),
        ("http://169.254.169.254/latest/meta-data/", r"169\.254\.169\.254 \(link-local\)"),
        ("http://10.0.0.1/", r"refused address 10\.0\.0\.1 \(private\)"),
        ("file:///etc/passwd", "unsupported scheme 'file'"),
        ("gopher://127.0.0.1:{port}/img/r.jpg", "unsupported scheme 'gopher'"),
    ],
)
async def test_every_redirect_hop_is_checked(
    target: str,
    error: str,
    server: ImageServer,
    second_server: ImageServer,
    make_settings: MakeSettings,
) -> None:
    """The first hop (127.0.0.2) is allowed; the hop it redirects to is not."""
    location = quote(target.format(port=server.port), safe="")
    first = f"/redirect?to={location}"
    settings = {"fetch_allow_nets": ["127.0.0.2/32"], "fetch_connect_timeout_s": 0.05}
    with pytest.raises(FetchError, match=error) as caught:
        await fetch_once(settings, make_settings, second_server.url(first))
    assert caught.value.transient is False
    assert second_server.hits(first) == 1
    assert server.hits("/img/r.jpg") == 0


@pytest.mark.parametrize(
    ("status", "attempts", "transient"),
    [
        (404, 1, False),
        (403, 1, False),
        (500, 1, False),
        (429, 3, True),
        (502, 3, True),
        (503, 3, True),
        (504, 3, True),
    ],
)
async def test_error_statuses_are_retried_only_when_transient(
    status: int, attempts: int, transient: bool, server: ImageServer, make_settings: MakeSettings
) -> None:
    path = f"/status/{status}"
    after = rf" \(after {attempts} attempts in \d\.\d s\)" if attempts > 1 else ""
    with pytest.raises(
        FetchError, match=rf"^HTTP {status} from 127\.0\.0\.1:{server.port}{after}$"
    ) as caught:
        await fetch_once({"fetch_retries": 2}, make_settings, server.url(path))
    assert caught.value.transient is transient
    assert server.hits(path) == attempts


async def test_a_flaky_server_is_retried_until_it_answers(
    server: ImageServer, make_settings: MakeSettings
) -> None:
    fetched = await fetch_once({"fetch_retries": 2}, make_settings, server.url("/flaky/a?fail=2"))
    assert fetched.data.startswith(b"\xff\xd8")
    assert server.hits("/flaky/a") == 3


async def test_retries_back_off_exponentially(
    server: ImageServer, make_settings: MakeSettings
) -> None:
    started = time.perf_counter()
    with pytest.raises(FetchError, match="HTTP 503"):
        await fetch_once(
            {"fetch_retries": 2, "fetch_backoff_s": 0.1}, make_settings, server.url("/status/503")
        )
    assert 0.3 <= time.perf_counter() - started < 1.5  # 0.1 s, then 0.2 s
    assert server.hits("/status/503") == 3


async def test_retry_after_is_honoured(server: ImageServer, make_settings: MakeSettings) -> None:
    started = time.perf_counter()
    await fetch_once({}, make_settings, server.url("/flaky/b?fail=1&retry_after=1"))
    assert time.perf_counter() - started >= 0.95
    assert server.hits("/flaky/b") == 2


async def test_a_long_retry_after_is_capped(
    server: ImageServer, make_settings: MakeSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fetch_module, "RETRY_AFTER_CAP_S", 0.2)
    started = time.perf_counter()
    await fetch_once({}, make_settings, server.url("/flaky/c?fail=1&retry_after=3600"))
    assert 0.2 <= time.perf_counter() - started < 2.0


async def test_a_slow_server_times_out_and_is_retried(
    server: ImageServer, make_settings: MakeSettings
) -> None:
    settings = {"fetch_timeout_s": 0.3, "fetch_retries": 1}
    started = time.perf_counter()
    with pytest.raises(FetchError, match=r"^timed out after 2 attempts in 0\.\d s$") as caught:
        await fetch_once(settings, make_settings, server.url("/slow?delay=2"))
    assert caught.value.transient is True
    assert time.perf_counter() - started < 1.5
    assert server.hits("/slow") == 2


async def test_the_time_limit_covers_the_whole_download_not_each_read(
    server: ImageServer, make_settings: MakeSettings
) -> None:
    # Each piece comes well within the limit; all of them together do not.
    settings = {"fetch_timeout_s": 0.4, "fetch_retries": 0}
    started = time.perf_counter()
    with pytest.raises(FetchError, match=r"^timed out after 0\.4 s$"):
        await fetch_once(settings, make_settings, server.url("/trickle?chunks=10&interval=0.1"))
    assert time.perf_counter() - started < 0.9


async def test_a_closed_port_is_a_transient_connection_failure(
    make_settings: MakeSettings,
) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    refused = rf"^connection failed: 127\.0\.0\.1 port {port}: Connection refused \(after 3 "
    refused += r"attempts in \d\.\d s\)$"
    with pytest.raises(FetchError, match=refused) as caught:
        await fetch_once({}, make_settings, f"http://127.0.0.1:{port}/a.jpg")
    assert caught.value.transient is True


@pytest.mark.parametrize("length", ["1", "0"])
async def test_a_body_over_the_cap_is_refused(
    length: str, server: ImageServer, make_settings: MakeSettings
) -> None:
    settings = {"fetch_max_bytes": 100_000}
    ok = await fetch_once(settings, make_settings, server.url(f"/big?bytes=100000&length={length}"))
    assert len(ok.data) == 100_000
    started = time.perf_counter()
    with pytest.raises(FetchError, match=r"^too large: more than 100000 bytes$") as caught:
        # A gigabyte: refused from the header, or as soon as the count passes the cap.
        await fetch_once(settings, make_settings, server.url(f"/big?bytes={10**9}&length={length}"))
    assert caught.value.transient is False
    assert time.perf_counter() - started < 2.0
    assert server.hits("/big") == 2


async def test_redirects_within_the_limit_are_followed(
    server: ImageServer, make_settings: MakeSettings
) -> None:
    fetched = await fetch_once(
        {"fetch_max_redirects": 5}, make_settings, server.url("/redirect-chain/5")
    )
    assert fetched.url == server.url("/redirect-chain/0")
    assert [server.hits(f"/redirect-chain/{n}") for n in range(6)] == [1] * 6


async def test_too_many_redirects_stop_before_the_next_hop(
    server: ImageServer, make_settings: MakeSettings
) -> None:
    with pytest.raises(FetchError, match=r"^too many redirects \(more than 5\)$"):
        await fetch_once({"fetch_max_redirects": 5}, make_settings, server.url("/redirect-chain/6"))
    assert server.hits("/redirect-chain/1") == 1
    assert server.hits("/redirect-chain/0") == 0
    with pytest.raises(FetchError, match=r"more than 0"):
        await fetch_once({"fetch_max_redirects": 0}, make_settings, server.url("/redirect-chain/1"))


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
async def test_relative_redirects_of_every_kind_are_followed(
    code: int, server: ImageServer, make_settings: MakeSettings
) -> None:
    fetched = await fetch_once(
        {}, make_settings, server.url(f"/redirect?to=/img/moved.gif&code={code}")
    )
    assert fetched.url == server.url("/img/moved.gif")
    assert fetched.data.startswith(b"GIF8")


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("ftp://example.com/a.jpg", "^unsupported scheme 'ftp'$"),
        ("file:///etc/passwd", "^unsupported scheme 'file'$"),
        ("data:image/png;base64,AAAA", "^unsupported scheme 'data'$"),
        ("example.com/a.jpg", "^unsupported scheme ''$"),
        ("http://", "no host"),
        ("http://exa mple.com/", "invalid"),
        ("http://256.1.1.1/", "invalid URL"),
    ],
)
async def test_urls_that_are_not_http_are_refused(
    url: str, error: str, make_settings: MakeSettings
) -> None:
    with pytest.raises(FetchError, match=error) as caught:
        await fetch_once({}, make_settings, url)
    assert caught.value.transient is False


async def test_content_type_is_not_trusted(
    server: ImageServer, make_settings: MakeSettings
) -> None:
    fetched = await fetch_once({}, make_settings, server.url("/text"))
    assert fetched.content_type == "image/jpeg"
    with pytest.raises(DecodeError, match="not an image"):
        decode_image(fetched.data, max_pixels=10**8)


async def gather_slow(fetcher: Fetcher, server: ImageServer, count: int) -> None:
    urls = [server.url(f"/slow?delay=0.15&n={n}") for n in range(count)]
    await asyncio.gather(*(fetcher.fetch(url) for url in urls))


async def test_downloads_per_host_are_limited(
    server: ImageServer, make_settings: MakeSettings
) -> None:
    async with Fetcher(make_settings(fetch_per_host=2, fetch_concurrency=10)) as fetcher:
        await gather_slow(fetcher, server, 6)
        assert fetcher.host_slots.slots == {}
    assert server.hits("/slow") == 6
    assert server.peak_in_flight == 2


async def test_downloads_in_all_are_limited(
    server: ImageServer, make_settings: MakeSettings
) -> None:
    async with Fetcher(make_settings(fetch_per_host=8, fetch_concurrency=3)) as fetcher:
        await gather_slow(fetcher, server, 6)
    assert server.peak_in_flight == 3


async def test_concurrent_downloads_overlap(
    server: ImageServer, make_settings: MakeSettings
) -> None:
    started = time.perf_counter()
    async with Fetcher(make_settings()) as fetcher:
        await gather_slow(fetcher, server, 8)
    assert time.perf_counter() - started < 0.15 * 4
    assert server.peak_in_flight == 8


async def test_one_deadline_covers_all_attempts_and_the_error_says_so(
    server: ImageServer, make_settings: MakeSettings
) -> None:
    settings = {"fetch_timeout_s": 0.3, "fetch_item_timeout_s": 0.5, "fetch_retries": 5}
    started = time.perf_counter()
    with pytest.raises(FetchError, match=r"^timed out after 2 attempts in 0\.[5-9] s$"):
        await fetch_once(settings, make_settings, server.url("/slow?delay=2"))
    assert time.perf_counter() - started < 1.2  # not 6 attempts of 0.3 s
    assert server.hits("/slow") == 2


async def test_names_of_one_address_share_its_connection_limit(
    server: ImageServer, make_settings: MakeSettings
) -> None:
    """Many names that point at one server are one host to the per-host limit."""

    async def one_address(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    settings = make_settings(fetch_per_host=2, fetch_concurrency=10)
    async with Fetcher(settings, resolve=one_address) as fetcher:
        urls = [f"http://name{n}.example:{server.port}/slow?delay=0.15&n={n}" for n in range(6)]
        await asyncio.gather(*(fetcher.fetch(url) for url in urls))
        assert fetcher.address_slots.slots == {}
    assert server.hits("/slow") == 6
    assert server.peak_in_flight == 2
