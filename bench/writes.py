"""Write acceptance: asynchronous single-image POSTs per second and their latency, against
the floor of the framework.

The server is a real `pixsearch serve`; the load comes from a second process
(bench/loadgen.py). The floor is a bare async FastAPI endpoint on the same server stack
that parses the same body (bench/bare.py), measured by the same load generator in the same
run, rounds alternating so that a machine's drift falls on both alike. Goal (issue 15):
pixsearch's throughput >= 0.5x the floor's and its p50 <= 2x the floor's.

With `--against metrics` the same run instead measures the server with PIXSEARCH_METRICS=on
and =off and prints what the metrics cost (goal, issue 14: under 3 %).

    python -m bench.writes [--seconds 10] [--connections 8] [--rounds 2] [--workers]
                           [--against bare|metrics] [--postgres | --database-url URL]

`--postgres` runs pixsearch on a throwaway PostgreSQL (PIXSEARCH_TEST_POSTGRES_URL's
server, or a pgserver cluster, as the tests do), a fresh database per measurement.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import astuple, dataclass
from pathlib import Path

from bench.server import BareServer, start_server
from bench.stats import cpu_seconds, percentiles, rss_mib
from pixsearch.monitoring.metrics import Metrics
from tests.postgres import start_cluster


@dataclass(frozen=True)
class Figure:
    throughput: float  # POST/s
    p50_ms: float
    cpu_ms: float  # the server's CPU per POST


def load(url: str, key: str, pid: int, label: str, args: argparse.Namespace) -> Figure:
    """Run the load generator against one server; print and return its figures (CPU per
    POST is steadier than throughput on a shared machine: other processes' load slows the
    clock, not the work a request costs)."""
    cpu_before = cpu_seconds(pid)
    out = subprocess.run(
        [sys.executable, "-m", "bench.loadgen", url, key, str(args.seconds), str(args.connections)],
        capture_output=True,
        text=True,
        check=True,
    )
    cpu_ms = 1000 * (cpu_seconds(pid) - cpu_before)
    result = json.loads(out.stdout)
    latencies = result["latencies_ms"]
    figure = Figure(
        throughput=len(latencies) / result["elapsed_s"],
        p50_ms=statistics.median(latencies),
        cpu_ms=cpu_ms / max(len(latencies), 1),
    )
    print(f"{label}, {args.connections} connections, {args.seconds:.0f} s")
    print(f"  requests: {len(latencies)}  statuses: {result['statuses']}")
    print(f"  throughput: {figure.throughput:.0f} POST/s")
    print(f"  latency ms: {percentiles(latencies)}")
    print(f"  server CPU: {figure.cpu_ms:.3f} ms per POST")
    print(f"  server RSS: {rss_mib(pid):.0f} MiB")
    return figure


def measure_pixsearch(args: argparse.Namespace, metrics: str = "on") -> Figure:
    """One `pixsearch serve` with PIXSEARCH_METRICS=`metrics` under load."""
    with tempfile.TemporaryDirectory(prefix="pixsearch-writes-") as data, database(args) as url:
        env = {"PIXSEARCH_METRICS": metrics, **({"PIXSEARCH_DATABASE_URL": url} if url else {})}
        flags = [] if args.workers else ["--no-workers"]
        server, key = start_server(Path(data), *flags, **env)
        engine = "PostgreSQL" if url and url.startswith("postgres") else "SQLite"
        workers = "in-process workers running" if args.workers else "serve --no-workers"
        label = f"pixsearch ({engine}, {workers}, metrics {metrics})"
        try:
            return load(server.url, key, server.pid, label, args)
        finally:
            server.stop()


@contextmanager
def database(args: argparse.Namespace) -> Iterator[str | None]:
    """The database URL of one measurement (None: the server's own SQLite file)."""
    if args.cluster is None:
        yield args.database_url
        return
    with args.cluster.database() as url:
        yield url


def measure_bare(args: argparse.Namespace) -> Figure:
    server = BareServer().start()
    try:
        return load(server.url, "-", server.process.pid, "bare FastAPI endpoint", args)
    finally:
        server.stop()


def against_bare(args: argparse.Namespace) -> None:
    """Rounds of the floor and pixsearch, alternating which goes first; the ratios."""
    bare: list[Figure] = []
    ours: list[Figure] = []
    for round_ in range(args.rounds):
        if round_ % 2 == 0:
            bare.append(measure_bare(args))
            ours.append(measure_pixsearch(args))
        else:
            ours.append(measure_pixsearch(args))
            bare.append(measure_bare(args))
        print(f"round {round_ + 1}: {ratios(bare[-1], ours[-1])}")
    floor, mine = median_figure(bare), median_figure(ours)
    print(f"medians of {args.rounds} rounds:")
    print(f"  bare FastAPI endpoint  {floor.throughput:6.0f} POST/s  p50 {floor.p50_ms:6.2f} ms")
    print(f"  pixsearch              {mine.throughput:6.0f} POST/s  p50 {mine.p50_ms:6.2f} ms")
    print(f"  {ratios(floor, mine)}")
    print(
        f"  server CPU per POST: bare {floor.cpu_ms:.3f} ms, pixsearch {mine.cpu_ms:.3f} ms "
        f"({mine.cpu_ms / floor.cpu_ms:.2f}x)"
    )


def median_figure(figures: list[Figure]) -> Figure:
    return Figure(
        *(statistics.median(values) for values in zip(*map(astuple, figures), strict=True))
    )


def ratios(floor: Figure, mine: Figure) -> str:
    return (
        f"throughput {mine.throughput / floor.throughput:.2f}x the floor (goal >= 0.5), "
        f"p50 {mine.p50_ms / floor.p50_ms:.2f}x (goal <= 2)"
    )


def against_metrics(args: argparse.Namespace) -> None:
    """Rounds of metrics on and off, alternating which goes first; what counting costs."""
    rates: dict[str, list[float]] = {"on": [], "off": []}
    cpu: dict[str, list[float]] = {"on": [], "off": []}
    for round_ in range(args.rounds):
        for metrics in ("on", "off") if round_ % 2 == 0 else ("off", "on"):
            figure = measure_pixsearch(args, metrics)
            rates[metrics].append(figure.throughput)
            cpu[metrics].append(figure.cpu_ms)
    on, off = statistics.median(rates["on"]), statistics.median(rates["off"])
    cpu_on, cpu_off = statistics.median(cpu["on"]), statistics.median(cpu["off"])
    print(f"medians of {args.rounds} rounds each:")
    print(
        f"  throughput  on {on:.0f} POST/s, off {off:.0f} POST/s: "
        f"cost {100 * (1 - on / off):+.1f} % (goal < 3 %)"
    )
    print(
        f"  server CPU  on {cpu_on:.3f} ms/POST, off {cpu_off:.3f} ms/POST: "
        f"cost {100 * (cpu_on / cpu_off - 1):+.1f} % of the work per POST (goal < 3 %)"
    )
    calls = metric_calls_ms()
    print(
        f"  metric calls alone: {1000 * calls:.1f} us per POST = "
        f"{100 * calls / cpu_off:.1f} % of the server CPU per POST with metrics off"
    )


def metric_calls_ms(n: int = 100_000) -> float:
    """CPU milliseconds of what metrics add to one accepted POST: the request's counter and
    histogram, and the enqueue counter (timed alone, in this process: a floor that a loaded
    machine's noise does not blur)."""
    metrics = Metrics()
    started = time.process_time()
    for _ in range(n):
        metrics.observe_request("POST", "/imgs/{image_id}", 202, 0.003)
        metrics.count_enqueued("add", False, None)
    return 1000 * (time.process_time() - started) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument(
        "--workers",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="also run the in-process workers (they then compete for CPU)",
    )
    parser.add_argument("--against", choices=("bare", "metrics"), default="bare")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of each")
    parser.add_argument("--database-url", help="PostgreSQL, say (default: SQLite)")
    parser.add_argument("--postgres", action="store_true", help="on a throwaway PostgreSQL")
    args = parser.parse_args()
    with ExitStack() as stack:
        args.cluster = stack.enter_context(start_cluster()) if args.postgres else None
        if args.postgres and args.cluster is None:
            parser.error("no PostgreSQL: install pgserver or set PIXSEARCH_TEST_POSTGRES_URL")
        if args.against == "bare":
            against_bare(args)
        else:
            against_metrics(args)


if __name__ == "__main__":
    main()
