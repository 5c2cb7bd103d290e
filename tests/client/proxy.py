"""A loopback HTTP proxy that misbehaves on purpose: it can answer 503 before forwarding,
or forward a request and then hang up without relaying the answer (the server acted, the
client never heard): the case that makes retries of writes dangerous without a key."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

import httpx

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class FlakyProxy:
    def __init__(self, upstream: str, *, fail_first: int = 0, drop_first: int = 0) -> None:
        self.upstream = upstream
        self.fail_first = fail_first  # answer 503 to this many requests, forwarding none
        self.drop_first = drop_first  # forward this many, then hang up without answering
        self.requests = 0
        self.keys: list[str | None] = []
        self.calls: list[tuple[str, str]] = []  # (method, path) of every request
        self._lock = threading.Lock()
        self._http = httpx.Client(base_url=upstream, timeout=60)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FlakyProxy:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._http.close()

    def _next_fate(self) -> str:
        with self._lock:
            self.requests += 1
            if self.fail_first > 0:
                self.fail_first -= 1
                return "fail"
            if self.drop_first > 0:
                self.drop_first -= 1
                return "drop"
            return "forward"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle_one_request(self) -> None:
                self.raw_requestline = self.rfile.readline(65537)
                if not self.raw_requestline or not self.parse_request():
                    self.close_connection = True
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                proxy.keys.append(self.headers.get("Idempotency-Key"))
                proxy.calls.append((self.command, self.path.split("?")[0]))
                fate = proxy._next_fate()
                if fate == "fail":
                    self.send_response(503)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
                answer = proxy._http.request(self.command, self.path, content=body, headers=headers)
                if fate == "drop":
                    self.close_connection = True
                    return
                self.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower() not in HOP_HEADERS:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler
