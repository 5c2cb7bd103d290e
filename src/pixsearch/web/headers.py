"""Security headers on every answer, and the Content-Security-Policy of each page."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The app: its own scripts and styles only; images from anywhere (they are the users' URLs);
# the API on the same origin. No inline script or style, no plugins, no framing.
APP_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src * data: blob:; "
    "connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# Swagger UI and ReDoc set styles inline and ReDoc searches in a blob worker; their scripts
# still come from the service only.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; worker-src 'self' blob:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
COMMON = {
    b"x-content-type-options": b"nosniff",
    # Image URLs are the users'; opening one must not tell its host what was searched.
    b"referrer-policy": b"no-referrer",
}


class SecurityHeaders:
    """ASGI middleware: `X-Content-Type-Options` and `Referrer-Policy` on every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in COMMON.items():
                    headers.setdefault(name.decode(), value.decode())
            await send(message)

        await self.app(scope, receive, send_with_headers)
