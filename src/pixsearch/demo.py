"""`python -m pixsearch.demo`: start the service and show it working.

It creates an API key, serves three generated pictures on loopback, adds them with
`wait=true`, prints the finished operation and the stored image, and then keeps the
service running until interrupted. The demo allows fetching from 127.0.0.1 only for
its own picture server, since the address guard refuses loopback by default.
"""

from __future__ import annotations

import io
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import httpx
import uvicorn
from PIL import Image, ImageDraw

from pixsearch.app import create_app
from pixsearch.config import Settings
from pixsearch.db.engine import create_db_engine, writer
from pixsearch.db.migrate import upgrade
from pixsearch.tenants.service import create_key

COLOURS = {"red": (200, 30, 30), "green": (30, 160, 60), "blue": (30, 60, 200)}


def picture(colour: tuple[int, int, int]) -> bytes:
    image = Image.new("RGB", (320, 200), (240, 240, 240))
    ImageDraw.Draw(image).ellipse((60, 20, 260, 180), fill=colour)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


class PictureHandler(BaseHTTPRequestHandler):
    pictures: ClassVar[dict[str, bytes]] = {
        f"/{name}.jpg": picture(rgb) for name, rgb in COLOURS.items()
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


def main() -> None:
    pictures = ThreadingHTTPServer(("127.0.0.1", 0), PictureHandler)
    threading.Thread(target=pictures.serve_forever, daemon=True).start()
    os.environ.setdefault("PIXSEARCH_FETCH_ALLOW_NETS", "127.0.0.1/32")
    settings = Settings()
    host, port = "127.0.0.1", int(os.environ.get("PORT", "8000"))
    engine = create_db_engine(settings.resolved_database_url)
    upgrade(engine)
    with writer(engine).begin() as conn:
        key = create_key(conn, "demo")
    engine.dispose()

    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host=host, port=port, log_level="warning")
    )
    threading.Thread(target=server.run, daemon=True).start()
    base = f"http://{host}:{port}"
    while not server.started:
        time.sleep(0.05)
    print(f"pixsearch is running on {base} (data in {settings.data_dir})")
    print(json.dumps(httpx.get(f"{base}/health").json(), indent=2))

    picture_base = f"http://127.0.0.1:{pictures.server_address[1]}"
    batch = [
        {
            "id": name,
            "src": f"{picture_base}/{name}.jpg",
            "title": f"A {name} disc",
            "keywords": [name, "demo"],
        }
        for name in COLOURS
    ]
    headers = {"API-Key": key}
    response = httpx.post(
        f"{base}/imgs", params={"wait": "true"}, json=batch, headers=headers, timeout=120
    )
    print(f"\nPOST /imgs?wait=true -> {response.status_code}")
    print(json.dumps(response.json(), indent=2))
    print("\nGET /imgs/red ->")
    print(json.dumps(httpx.get(f"{base}/imgs/red", headers=headers).json(), indent=2))
    formula = "k=demo && o=landscape"
    query = {"q": formula, "fields": ["image_id", "title"], "facets": ["keywords"]}
    print(f"\nGET /imgs?q={formula} ->")
    found = httpx.get(f"{base}/imgs", params=query, headers=headers)
    print(json.dumps(found.json(), indent=2))
    print(f"\nTry it: curl -H 'API-Key: {key}' {base}/ops")
    print("Press Ctrl-C to stop.")
    try:
        while server.started and not server.should_exit:
            time.sleep(0.5)
    except KeyboardInterrupt:
        server.should_exit = True


if __name__ == "__main__":
    main()
