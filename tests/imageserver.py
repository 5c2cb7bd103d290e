"""A real HTTP image server on loopback, for tests and benchmarks.

Runs `http.server.ThreadingHTTPServer` (HTTP/1.1, keep-alive) in a background thread.
Content registered with `add` wins; otherwise these paths behave as named:

    /img/<name>.<ext>        a generated image (jpg, jpeg, png, webp, gif, bmp, tif, tiff);
                             `seed<S>-<W>x<H>` as name gives that seed and size
    /slow?delay=S            a JPEG after S seconds
    /trickle?chunks=N&interval=S   a JPEG-sized body sent in N pieces, S seconds apart
    /loris?length=N&interval=S     slow loris: Content-Length N, then one byte every S
                             seconds until the client hangs up
    /status/<code>           that status, with a short text body
    /flaky/<key>?fail=N[&retry_after=S]   503 the first N times for <key>, then a JPEG
    /redirect?to=<url>[&code=302]         a redirect to <url>
    /redirect-chain/<n>      n redirects, then a JPEG
    /big?bytes=N&length=1    N bytes, with Content-Length (length=1) or without (length=0)
    /text                    an HTML page that claims `Content-Type: image/jpeg`
    /bomb                    a small PNG whose header declares 30000 x 30000 pixels
    /exif-rotated.jpg        a 60x40 JPEG stored with EXIF orientation 6 (shown 40x60)
    /truncated.jpg           the first half of a JPEG
"""

from __future__ import annotations

import functools
import io
import re
import struct
import sys
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
from PIL import Image

EXT_FORMATS = {
    "jpg": ("JPEG", "image/jpeg"),
    "jpeg": ("JPEG", "image/jpeg"),
    "png": ("PNG", "image/png"),
    "webp": ("WEBP", "image/webp"),
    "gif": ("GIF", "image/gif"),
    "bmp": ("BMP", "image/bmp"),
    "tif": ("TIFF", "image/tiff"),
    "tiff": ("TIFF", "image/tiff"),
}
BOMB_SIDE = 30_000
ORIENTATION_TAG = 0x0112


def make_picture(width: int, height: int, seed: int) -> Image.Image:
    """A deterministic RGB picture; different seeds give perceptually different pictures.

    Coarse random blocks, smoothly upscaled, decide the picture's structure (what a
    perceptual hash sees); a little fine noise gives JPEGs a realistic size.
    """
    rng = np.random.default_rng(seed)
    # An 8x8 grid fills the 8x8 low frequencies a DCT hash keeps, so few of its bits
    # sit near the median and flip under resizing or recompression.
    grid = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    coarse = Image.fromarray(grid, "RGB").resize((width, height), Image.Resampling.BICUBIC)
    noise = rng.integers(-6, 7, size=(height, width, 3), dtype=np.int16)
    pixels = np.clip(np.asarray(coarse, dtype=np.int16) + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, "RGB")


def encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    """`image` encoded in Pillow format `fmt`."""
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def make_jpeg(
    width: int, height: int, seed: int, *, quality: int = 90, orientation: int | None = None
) -> bytes:
    """A real JPEG of a generated picture, optionally tagged with an EXIF orientation."""
    options: dict[str, Any] = {"quality": quality}
    if orientation is not None:
        exif = Image.Exif()
        exif[ORIENTATION_TAG] = orientation
        options["exif"] = exif.tobytes()
    return encode(make_picture(width, height, seed), "JPEG", **options)


def make_png(width: int, height: int, seed: int, *, mode: str = "RGB") -> bytes:
    """A real PNG of a generated picture in Pillow mode `mode` (RGB, RGBA, L, P, ...)."""
    picture = make_picture(width, height, seed)
    if mode == "RGBA":
        picture.putalpha(Image.linear_gradient("L").resize(picture.size))
    elif mode != "RGB":
        picture = picture.convert(mode)
    return encode(picture, "PNG")


def make_image(width: int, height: int, seed: int, fmt: str) -> bytes:
    """A generated picture in any Pillow format that can write RGB (or palette for GIF)."""
    picture = make_picture(width, height, seed)
    if fmt == "GIF":
        picture = picture.convert("P", palette=Image.Palette.ADAPTIVE)
    return encode(picture, fmt)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data and CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@functools.cache
def make_bomb_png(side: int = BOMB_SIDE) -> bytes:
    """A valid 1-bit all-black PNG of side x side pixels, a few hundred KB on the wire.

    Written chunk by chunk: building it with Pillow would first allocate side^2 bytes.
    """
    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte + packed bits
    rows_per_block = 1000
    compressor = zlib.compressobj(9)
    parts = [
        compressor.compress(row * min(rows_per_block, side - start))
        for start in range(0, side, rows_per_block)
    ]
    idat = b"".join(parts) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


@functools.cache
def generated(name: str, ext: str) -> tuple[bytes, str]:
    """The body and content type of `/img/<name>.<ext>`."""
    fmt, content_type = EXT_FORMATS[ext]
    match = re.fullmatch(r"seed(\d+)-(\d+)x(\d+)", name)
    seed, width, height = (
        (int(match[1]), int(match[2]), int(match[3]))
        if match
        else (zlib.crc32(name.encode()), 64, 48)
    )
    data = make_jpeg(width, height, seed) if fmt == "JPEG" else make_image(width, height, seed, fmt)
    return data, content_type


class LoopbackHTTPServer(ThreadingHTTPServer):
    """A threaded HTTP server with a listen backlog fit for hundreds of parallel downloads."""

    request_queue_size = 256
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that hang up (fetch tests make them), report anything else."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class ImageServer:
    """A threaded HTTP server on 127.0.0.1 (or `host`) with an ephemeral port."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.content: dict[str, tuple[bytes, str]] = {}
        self.counts: Counter[str] = Counter()
        self.flaky: Counter[str] = Counter()
        self.last_headers: dict[str, dict[str, str]] = {}
        self.hooks: dict[str, Callable[[], None]] = {}
        self.in_flight = 0
        self.peak_in_flight = 0
        self.lock = threading.Lock()
        self.httpd = LoopbackHTTPServer((host, 0), handler_for(self))
        self.port: int = self.httpd.server_address[1]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def __enter__(self) -> ImageServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving and free the port."""
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path: str) -> str:
        """The absolute URL of `path` on this server."""
        return f"http://{self.host}:{self.port}{path}"

    def add(self, path: str, data: bytes, content_type: str = "image/jpeg") -> None:
        """Serve `data` at `path` (exact match, query ignored) from now on."""
        with self.lock:
            self.content[path] = (data, content_type)

    def on_request(self, path: str, hook: Callable[[], None]) -> None:
        """Call `hook` (in the server's thread) for every request of `path`, before answering."""
        with self.lock:
            self.hooks[path] = hook

    def hits(self, path: str) -> int:
        """Requests received for `path` (with its query, or for the bare path: every query)."""
        with self.lock:
            return self.counts[path]

    def headers(self, path: str) -> dict[str, str]:
        """The headers of the last request for `path` (bare path), names in lower case."""
        with self.lock:
            return dict(self.last_headers.get(path, {}))

    def reset_hits(self) -> None:
        """Forget the request counts, the flaky counters and the concurrency peak."""
        with self.lock:
            self.counts.clear()
            self.flaky.clear()
            self.last_headers.clear()
            self.peak_in_flight = self.in_flight

    def record(self, target: str, headers: dict[str, str]) -> None:
        """Count a request for its target and, when it has a query, for its bare path."""
        path = urlsplit(target).path
        with self.lock:
            self.last_headers[path] = headers
            self.counts[target] += 1
            if path != target:
                self.counts[path] += 1
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            hook = self.hooks.get(path)
        if hook is not None:
            hook()

    def finish(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def fail_count(self, key: str) -> int:
        """How many times `/flaky/<key>` was asked for before, counting this time."""
        with self.lock:
            self.flaky[key] += 1
            return self.flaky[key]


Answer = tuple[int, dict[str, str], bytes]


def image_answer(data: bytes, content_type: str = "image/jpeg") -> Answer:
    return 200, {"Content-Type": content_type}, data


def route(server: ImageServer, target: str) -> Answer | Callable[[BaseHTTPRequestHandler], None]:
    """The answer to `target`: a (status, headers, body) triple, or a writer for odd ones."""
    parts = urlsplit(target)
    path, query = parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()}
    with server.lock:
        registered = server.content.get(path)
    if registered is not None:
        return image_answer(*registered)
    if match := re.fullmatch(rf"/img/(.+)\.({'|'.join(EXT_FORMATS)})", path, re.IGNORECASE):
        return image_answer(*generated(match[1], match[2].lower()))
    if path == "/slow":
        time.sleep(float(query.get("delay", "1")))
        return image_answer(generated("slow", "jpg")[0])
    if path == "/trickle":
        return functools.partial(
            write_trickle, int(query.get("chunks", "10")), float(query.get("interval", "0.1"))
        )
    if path == "/loris":
        return functools.partial(
            write_loris, int(query.get("length", "100000")), float(query.get("interval", "1"))
        )
    if match := re.fullmatch(r"/status/(\d{3})", path):
        return int(match[1]), {"Content-Type": "text/plain"}, f"status {match[1]}\n".encode()
    if match := re.fullmatch(r"/flaky/([^/]+)", path):
        if server.fail_count(match[1]) <= int(query.get("fail", "1")):
            headers = {"Content-Type": "text/plain"}
            if "retry_after" in query:
                headers["Retry-After"] = query["retry_after"]
            return 503, headers, b"try again\n"
        return image_answer(generated(f"flaky-{match[1]}", "jpg")[0])
    if path == "/redirect":
        return int(query.get("code", "302")), {"Location": query["to"]}, b""
    if match := re.fullmatch(r"/redirect-chain/(\d+)", path):
        hops = int(match[1])
        if hops == 0:
            return image_answer(generated("chain", "jpg")[0])
        return 302, {"Location": f"/redirect-chain/{hops - 1}"}, b""
    if path == "/big":
        size, with_length = int(query.get("bytes", "1000")), query.get("length", "1") == "1"
        return functools.partial(write_big, size, with_length)
    if path == "/text":
        page = b"<!doctype html><html><body>not a picture</body></html>\n"
        return 200, {"Content-Type": "image/jpeg"}, page
    if path == "/bomb":
        return image_answer(make_bomb_png(), "image/png")
    if path == "/exif-rotated.jpg":
        return image_answer(exif_rotated_jpeg())
    if path == "/truncated.jpg":
        return image_answer(truncated_jpeg())
    return 404, {"Content-Type": "text/plain"}, b"not found\n"


@functools.cache
def exif_rotated_jpeg() -> bytes:
    return make_jpeg(60, 40, 7, orientation=6)


@functools.cache
def truncated_jpeg() -> bytes:
    whole = make_jpeg(400, 300, 8)
    return whole[: len(whole) // 2]


def write_trickle(chunks: int, interval: float, handler: BaseHTTPRequestHandler) -> None:
    """A JPEG sent in `chunks` pieces, `interval` seconds apart."""
    data = generated("trickle", "jpg")[0]
    handler.send_response(200)
    handler.send_header("Content-Type", "image/jpeg")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    step = -(-len(data) // chunks)
    for start in range(0, len(data), step):
        handler.wfile.write(data[start : start + step])
        handler.wfile.flush()
        time.sleep(interval)


def write_loris(length: int, interval: float, handler: BaseHTTPRequestHandler) -> None:
    """Promise `length` bytes, then send one every `interval` seconds."""
    handler.send_response(200)
    handler.send_header("Content-Type", "image/jpeg")
    handler.send_header("Content-Length", str(length))
    handler.end_headers()
    for _ in range(length):
        handler.wfile.write(b"\x00")
        handler.wfile.flush()
        time.sleep(interval)


def write_big(size: int, with_length: bool, handler: BaseHTTPRequestHandler) -> None:
    """`size` bytes of zeros, streamed, with or without Content-Length."""
    handler.send_response(200)
    handler.send_header("Content-Type", "image/jpeg")
    if with_length:
        handler.send_header("Content-Length", str(size))
    else:
        # Without a length the end of the body is the end of the connection.
        handler.send_header("Connection", "close")
        handler.close_connection = True
    handler.end_headers()
    block = b"\x00" * 65536
    for start in range(0, size, len(block)):
        handler.wfile.write(block[: min(len(block), size - start)])


def handler_for(server: ImageServer) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to `server`."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes; with Nagle's algorithm and the
        # client's delayed ACK each keep-alive response would wait ~40 ms.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            server.record(self.path, {k.lower(): v for k, v in self.headers.items()})
            try:
                answer = route(server, self.path)
                if callable(answer):
                    answer(self)
                else:
                    self.send_answer(*answer)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up, as fetch tests make it do
            finally:
                server.finish()

        def send_answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # a benchmark makes thousands of requests; the counts say what happened

    return Handler
