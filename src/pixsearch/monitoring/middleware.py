"""The HTTP edge of monitoring: a request id, one access log line, and the request metrics.

A plain ASGI middleware rather than Starlette's `BaseHTTPMiddleware`, which would put a
task and a memory stream into every request. The route label is the matched route's
template (`/imgs/{image_id}`), read after the router has set it on the scope, so that no
label ever carries an image id.
"""

from __future__ import annotations

import logging
import random
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pixsearch.monitoring.logs import CURRENT, LogContext
from pixsearch.monitoring.metrics import UNMATCHED_ROUTE, Metrics

access_log = logging.getLogger("pixsearch.access")

REQUEST_ID_HEADER = b"x-request-id"
# An incoming id is kept when it is short and plain; anything else gets a fresh one, so a
# client cannot write arbitrary text into the log.
SOUND_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")
QUIET_PATHS = ("/health", "/metrics")  # polled by machines: access lines at debug level


class MonitorRequests:
    """Give each HTTP request a log context and a request id; log and count it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = incoming_request_id(scope) or new_request_id()
        context = LogContext(request_id=request_id)
        token = CURRENT.set(context)
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                headers.append((REQUEST_ID_HEADER, request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or UNMATCHED_ROUTE
            metrics = metrics_of(scope)
            if metrics is not None:
                metrics.observe_request(scope["method"], route, status, seconds)
            _log_access(scope, route, status, seconds)
            CURRENT.reset(token)


def metrics_of(scope: Scope) -> Metrics | None:
    """The metrics of the app's resources (opened by its lifespan), if they are on."""
    resources = getattr(scope["app"].state, "resources", None)
    return getattr(resources, "metrics", None)


def new_request_id() -> str:
    """32 random hex digits, like a uuid4's. Not from os.urandom: that system call lets go of
    the GIL, and the enqueuer thread then takes it mid-request, one operation per commit."""
    return f"{random.getrandbits(128):032x}"


def incoming_request_id(scope: Scope) -> str | None:
    """The client's X-Request-ID, if it is a sound one."""
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            return value.decode() if SOUND_REQUEST_ID.fullmatch(value) else None
    return None


def _log_access(scope: Scope, route: str, status: int, seconds: float) -> None:
    """One line per request: method, path (never the query string or a header), status."""
    path: str = scope["path"]
    level = logging.DEBUG if path in QUIET_PATHS else logging.INFO
    if not access_log.isEnabledFor(level):
        return
    client = scope.get("client")
    access_log.log(
        level,
        "%s %s %d",
        scope["method"],
        path,
        status,
        extra={
            "method": scope["method"],
            "path": path,
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
            "client": client[0] if client else None,
        },
    )
