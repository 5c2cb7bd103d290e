"""Where the metrics are served: GET /metrics of the API, or a port of their own.

The API's /metrics is answered in a thread, because the scrape reads the queue from the
database. A process without the API (`pixsearch worker`), or a `serve` told to keep the
metrics off the API port, serves them with prometheus-client's own small HTTP server.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, start_http_server
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from pixsearch.monitoring.metrics import Metrics

log = logging.getLogger(__name__)


async def metrics_endpoint(request: Request) -> Response:
    """The Prometheus exposition of this process (404 when metrics are off)."""
    metrics: Metrics | None = request.app.state.resources.metrics
    if metrics is None:
        return Response("metrics are off (PIXSEARCH_METRICS=off)\n", status_code=404)
    body = await run_in_threadpool(metrics.render)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


@contextlib.contextmanager
def serve_metrics(metrics: Metrics | None, host: str, port: int | None) -> Iterator[None]:
    """Serve `metrics` on host:port in a thread while inside (nothing without a port)."""
    if metrics is None or port is None:
        yield
        return
    server, thread = start_http_server(port, host, registry=metrics.registry)
    log.info("metrics on http://%s:%d/metrics", host, port, extra={"metrics_port": port})
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
