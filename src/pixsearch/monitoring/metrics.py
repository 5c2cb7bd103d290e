"""Every metric family of pixsearch, in one registry per process (docs/monitoring.md).

One `Metrics` is made by `open_resources` and handed to the few places that own an event:
the HTTP middleware (requests, by route template), the enqueuer (committed operations),
the worker (finished operations and their items), the fetcher, the inference batchers,
search, and the cancel endpoint. Queue depth and vector counts are read from the database
when scraped (`DatabaseCollector`), so every process reports the same shared queue.

Labels are bounded: methods, route templates, outcomes, a fixed set of failure causes and
model names; never an image id, URL or key. Organisation names are a label only with
`PIXSEARCH_METRICS_PER_ORG` (a catalogue host may have thousands of organisations).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import sqlalchemy as sa
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.registry import Collector

from pixsearch.db.tables import embeddings, operations, organisations

FAST_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
SLOW_S = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256)
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"  # 404s of unknown paths: one label, whatever a scanner tries
QUEUE_STATES = ("queued", "running")


class Metrics:
    """The metric families of one process and the calls that move them."""

    def __init__(self, *, per_org: bool = False) -> None:
        # No `_created` series beside every counter and histogram: they double the series
        # and Prometheus does not need them (a process-wide switch of prometheus-client).
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.per_org = per_org
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self.registry = CollectorRegistry(auto_describe=True)
        org = ("org",) if per_org else ()
        registry = self.registry
        self.http_requests = Counter(
            "pixsearch_http_requests",
            "HTTP requests answered, by route template and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.http_duration = Histogram(
            "pixsearch_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer.",
            ["method", "route"],
            buckets=FAST_S,
            registry=registry,
        )
        self.enqueued = Counter(
            "pixsearch_operations_enqueued",
            "Operations committed to the queue by this process.",
            ["method", "urgent", *org],
            registry=registry,
        )
        self.finished = Counter(
            "pixsearch_operations_finished",
            "Operations finished by this process: good, failed (an item or the operation "
            "failed) or cancelled.",
            ["method", "outcome", *org],
            registry=registry,
        )
        self.idle = Histogram(
            "pixsearch_operation_idle_seconds",
            "Time an operation finished by this process waited in the queue before it started.",
            ["method"],
            buckets=SLOW_S,
            registry=registry,
        )
        self.exec = Histogram(
            "pixsearch_operation_exec_seconds",
            "Time from an operation's (last) start to its finish.",
            ["method"],
            buckets=SLOW_S,
            registry=registry,
        )
        self.items = Counter(
            "pixsearch_items",
            "Items of finished operations: applied, skipped (nothing to do), failed, or "
            "discarded (fine, but not applied because another item failed all-or-nothing).",
            ["method", "outcome", *org],
            registry=registry,
        )
        self.item_failures = Counter(
            "pixsearch_item_failures",
            "Failed items by cause (a fixed set, see errors.ITEM_CAUSES).",
            ["cause"],
            registry=registry,
        )
        self.fetch_bytes = Counter(
            "pixsearch_fetch_bytes",
            "Bytes of the images downloaded (bodies of successful downloads).",
            registry=registry,
        )
        self.fetch_duration = Histogram(
            "pixsearch_fetch_duration_seconds",
            "Time of one image download, retries included, whatever its outcome.",
            buckets=FAST_S,
            registry=registry,
        )
        self.batch_size = Histogram(
            "pixsearch_inference_batch_size",
            "Items per inference batch.",
            ["model"],
            buckets=BATCH_SIZES,
            registry=registry,
        )
        self.inference_duration = Histogram(
            "pixsearch_inference_duration_seconds",
            "Time of one inference batch.",
            ["model"],
            buckets=FAST_S,
            registry=registry,
        )
        self.search_duration = Histogram(
            "pixsearch_search_duration_seconds",
            "Time of one search, by kind: metadata, fulltext, vector or hybrid.",
            ["kind"],
            buckets=FAST_S,
            registry=registry,
        )

    def _org(self, org: str | None) -> tuple[str, ...]:
        return (org or "",) if self.per_org else ()

    def _child(self, family: MetricWrapperBase, *values: str) -> Any:
        """`family.labels(*values)`, found once: prometheus-client checks the values and
        takes a lock on every call, over half the cost of counting a request (the labels are
        bounded, and so is this cache)."""
        key = (id(family), values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = family.labels(*values)
        return child

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Counted on every request: the children come from `_child`."""
        method = method if method in HTTP_METHODS else "OTHER"
        self._child(self.http_requests, method, route, str(status)).inc()
        self._child(self.http_duration, method, route).observe(seconds)

    def count_enqueued(self, method: str, urgent: bool, org: str | None) -> None:
        urgency = "true" if urgent else "false"
        self._child(self.enqueued, method, urgency, *self._org(org)).inc()

    def count_cancelled(self, method: str, org: str | None) -> None:
        self.finished.labels(method, "cancelled", *self._org(org)).inc()

    def count_finished(
        self, method: str, good: bool, org: str | None, idle_s: float, exec_s: float
    ) -> None:
        """An operation that a worker ran to its finish."""
        self.finished.labels(method, "good" if good else "failed", *self._org(org)).inc()
        self.idle.labels(method).observe(idle_s)
        self.exec.labels(method).observe(exec_s)

    def count_items(self, method: str, org: str | None, outcomes: dict[str, int]) -> None:
        """Items of a finished operation by outcome (applied, skipped, failed, discarded)."""
        for outcome, n in outcomes.items():
            if n:
                self.items.labels(method, outcome, *self._org(org)).inc(n)

    def count_failure(self, cause: str) -> None:
        self.item_failures.labels(cause).inc()

    def observe_fetch(self, nbytes: int, seconds: float) -> None:
        if nbytes:
            self.fetch_bytes.inc(nbytes)
        self.fetch_duration.observe(seconds)

    def observe_batch(self, model: str, size: int, seconds: float) -> None:
        self.batch_size.labels(model).observe(size)
        self.inference_duration.labels(model).observe(seconds)

    def observe_search(self, kind: str, seconds: float) -> None:
        self.search_duration.labels(kind).observe(seconds)

    def watch_database(self, engine: sa.Engine) -> None:
        """Report the queue and the vector counts of `engine`'s database at each scrape."""
        self.registry.register(DatabaseCollector(engine, per_org=self.per_org))

    def render(self) -> bytes:
        """The Prometheus text exposition of every family (runs the database queries)."""
        return generate_latest(self.registry)


class DatabaseCollector(Collector):
    """Gauges read from the database when scraped: the shared queue, the stored vectors."""

    def __init__(self, engine: sa.Engine, *, per_org: bool) -> None:
        self.engine = engine
        self.per_org = per_org

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return self._families()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        queue, vectors = self._families()
        with self.engine.connect() as conn:
            self._add_queue(conn, queue)
            # Grouped in the order of ix_embeddings_org_kind_model, so the count walks that
            # index alone, without sorting; the organisations are added up here.
            counted: dict[str, int] = {}
            statement = sa.select(embeddings.c.kind, sa.func.count()).group_by(
                embeddings.c.org_id, embeddings.c.kind
            )
            for kind, n in conn.execute(statement):
                counted[kind] = counted.get(kind, 0) + n
            for kind, n in sorted(counted.items()):
                vectors.add_metric([kind], n)
        yield queue
        yield vectors

    def _families(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        labels = ["state", "org"] if self.per_org else ["state"]
        queue = GaugeMetricFamily(
            "pixsearch_queue_operations",
            "Operations queued or running, in the database (all processes).",
            labels=labels,
        )
        vectors = GaugeMetricFamily(
            "pixsearch_vector_index_vectors",
            "Vectors stored in the embeddings index, by kind (clip, caption).",
            labels=["kind"],
        )
        return queue, vectors

    def _add_queue(self, conn: sa.Connection, queue: GaugeMetricFamily) -> None:
        counted = sa.func.count()
        if not self.per_org:
            rows = conn.execute(
                sa.select(operations.c.state, counted)
                .where(operations.c.state.in_(QUEUE_STATES))
                .group_by(operations.c.state)
            )
            found: dict[str, int] = {state: n for state, n in rows}
            for state in QUEUE_STATES:
                queue.add_metric([state], found.get(state, 0))
            return
        statement = (
            sa.select(operations.c.state, organisations.c.name, counted)
            .join(organisations, organisations.c.id == operations.c.org_id)
            .where(operations.c.state.in_(QUEUE_STATES))
            .group_by(operations.c.state, organisations.c.name)
        )
        for state, org, n in conn.execute(statement):
            queue.add_metric([state, org], n)
