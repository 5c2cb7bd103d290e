"""`python -m pixsearch.demo` (`make serve`): start the service and show it working.

It creates an API key, serves a dozen generated pictures on loopback, adds them with
`wait=true`, prints the finished operation, a stored image and a search, and then keeps the
service running until interrupted, printing the app's URL and the key to sign in with.
The demo allows fetching from 127.0.0.1 only for its own picture server, since the
address guard refuses loopback by default. A port already in use is an error, at once.
"""

from __future__ import annotations

import io
import json
import math
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import httpx
import uvicorn
from PIL import Image, ImageDraw

from pixsearch.app import create_app
from pixsearch.config import Settings
from pixsearch.db.engine import create_db_engine, writer
from pixsearch.db.migrate import upgrade
from pixsearch.tenants.service import create_key

COLOURS = {
    "red": (200, 30, 30),
    "green": (30, 160, 60),
    "blue": (30, 60, 200),
    "yellow": (230, 200, 20),
}
SHAPES = {"disc": (320, 200), "square": (240, 240), "tower": (200, 320)}


def picture(colour: tuple[int, int, int], shape: str) -> bytes:
    width, height = SHAPES[shape]
    image = Image.new("RGB", (width, height), (240, 240, 240))
    box = (width * 0.15, height * 0.1, width * 0.85, height * 0.9)
    draw = ImageDraw.Draw(image)
    if shape == "disc":
        draw.ellipse(box, fill=colour)
    else:
        draw.rectangle(box, fill=colour)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def as_jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def clock() -> bytes:
    """A clock face (a ring, twelve ticks, two hands): the packaged classifier tags it."""
    image = Image.new("RGB", (300, 300), "white")
    draw = ImageDraw.Draw(image)
    draw.ellipse((20, 20, 280, 280), outline="black", width=8)
    for hour in range(12):
        angle = hour * math.pi / 6
        inner, outer = (150 + r * math.cos(angle) for r in (110, 125))
        top, bottom = (150 + r * math.sin(angle) for r in (110, 125))
        draw.line((inner, top, outer, bottom), fill="black", width=6)
    draw.line((150, 150, 150, 60), fill="black", width=8)
    draw.line((150, 150, 220, 150), fill="black", width=6)
    return as_jpeg(image)


def tennis_ball() -> bytes:
    image = Image.new("RGB", (300, 300), (30, 120, 40))
    draw = ImageDraw.Draw(image)
    draw.ellipse((75, 75, 225, 225), fill=(200, 230, 60))
    draw.arc((60, 90, 200, 230), 300, 60, fill="white", width=6)
    draw.arc((100, 70, 240, 210), 120, 240, fill="white", width=6)
    return as_jpeg(image)


DRAWN = {"clock": clock(), "ball": tennis_ball()}  # found by t~ through their tags


class PictureHandler(BaseHTTPRequestHandler):
    pictures: ClassVar[dict[str, bytes]] = {
        **{f"/{name}.jpg": data for name, data in DRAWN.items()},
        **{
            f"/{colour}-{shape}.jpg": picture(rgb, shape)
            for colour, rgb in COLOURS.items()
            for shape in SHAPES
        },
    }

    def do_GET(self) -> None:
        body = self.pictures.get(self.path)
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *args: object) -> None:
        pass


def check_port(host: str, port: int) -> None:
    """Exit with a clear message if `host:port` is taken (uvicorn would fail in a thread)."""
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            sys.exit(
                f"Port {port} on {host} is not free ({error.strerror}). Stop what runs there, "
                f"or choose another port: make serve PORT={port + 1}"
            )


def start_server(settings: Settings, host: str, port: int) -> uvicorn.Server:
    """Run the service in a thread; return once it accepts requests, or exit if it died."""
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host=host, port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            sys.exit(f"pixsearch did not start on {host}:{port}; see the messages above.")
        time.sleep(0.05)
    return server


def demo_batch(picture_base: str) -> list[dict[str, Any]]:
    drawn = [
        {"id": name, "src": f"{picture_base}/{name}.jpg", "title": f"A drawn {name}"}
        for name in DRAWN
    ]
    return drawn + [
        {
            "id": f"{colour}-{shape}",
            "src": f"{picture_base}/{colour}-{shape}.jpg",
            "title": f"A {colour} {shape}",
            "alt_text": f"a {colour} {shape} on a light grey background",
            "keywords": [colour, shape, "demo"],
            "categories": ["Round" if shape == "disc" else "Angular"],
            "date": f"2024-{n + 1}-1",
        }
        for n, (colour, shape) in enumerate((c, s) for c in COLOURS for s in SHAPES)
    ]


def show(title: str, answer: httpx.Response) -> None:
    print(f"\n{title} -> {answer.status_code}")
    print(json.dumps(answer.json(), indent=2))


def main() -> None:
    host, port = "127.0.0.1", int(os.environ.get("PORT", "8000"))
    check_port(host, port)
    pictures = ThreadingHTTPServer(("127.0.0.1", 0), PictureHandler)
    threading.Thread(target=pictures.serve_forever, daemon=True).start()
    os.environ.setdefault("PIXSEARCH_FETCH_ALLOW_NETS", "127.0.0.1/32")
    settings = Settings()
    engine = create_db_engine(settings.resolved_database_url)
    upgrade(engine)
    with writer(engine).begin() as conn:
        key = create_key(conn, "demo")
    engine.dispose()

    server = start_server(settings, host, port)
    base = f"http://{host}:{port}"
    print(f"pixsearch is running on {base} (data in {settings.data_dir})")
    print(json.dumps(httpx.get(f"{base}/health").json(), indent=2))

    headers = {"API-Key": key}
    batch = demo_batch(f"http://127.0.0.1:{pictures.server_address[1]}")
    added = httpx.post(
        f"{base}/imgs", params={"wait": "true"}, json=batch, headers=headers, timeout=120
    )
    show("POST /imgs?wait=true", added)
    show("GET /imgs/red-disc", httpx.get(f"{base}/imgs/red-disc", headers=headers))
    formula = "k=demo && o=landscape"
    query = {"q": formula, "fields": ["image_id", "title"], "facets": ["keywords"]}
    show(f"GET /imgs?q={formula}", httpx.get(f"{base}/imgs", params=query, headers=headers))
    # Out of the box, with no model pulled: i~ (EfficientNet-Lite3) and the colour filter.
    for formula in ("i~red-disc", "color=red", "t~clocks", "t~a ball"):
        query = {"q": formula, "fields": ["image_id", "title", "tags"], "limit": "3"}
        show(f"GET /imgs?q={formula}", httpx.get(f"{base}/imgs", params=query, headers=headers))
    print(f"\nThe app:  {base}/   (sign in with the key below)")
    print(f"The API:  {base}/docs   (Authorize with the same key)")
    print(f"Key:      {key}")
    print(f"Try it:   curl -H 'API-Key: {key}' {base}/ops")
    print("The demo's pictures are served by this process: Ctrl-C stops both.")
    try:
        while server.started and not server.should_exit:
            time.sleep(0.5)
    except KeyboardInterrupt:
        server.should_exit = True


if __name__ == "__main__":
    main()
