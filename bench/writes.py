"""Write acceptance: asynchronous single-image POSTs per second and their latency.

The server is a real `pixsearch serve`; the load comes from a second process
(bench/loadgen.py). Goal (issue 2): >= 1,500 per second at p50 <= 5 ms. With
`--metrics both` (the default) the same run measures the server with PIXSEARCH_METRICS=on
and =off, alternating rounds so that a machine's drift falls on both alike, and prints
what the metrics cost (goal, issue 14: under 3 %).

    python -m bench.writes [--seconds 10] [--connections 8] [--no-workers]
                           [--metrics both|on|off] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

from bench.server import start_server
from bench.stats import cpu_seconds, percentiles, rss_mib
from pixsearch.monitoring.metrics import Metrics


def measure(args: argparse.Namespace, metrics: str) -> tuple[float, float]:
    """One server with PIXSEARCH_METRICS=`metrics` under load; print and return POST/s and
    the server's CPU milliseconds per POST (steadier than throughput on a shared machine:
    other processes' load slows the clock, not the work a request costs)."""
    server, key = start_server(
        None, *([] if args.workers else ["--no-workers"]), PIXSEARCH_METRICS=metrics
    )
    env_note = "in-process workers running" if args.workers else "serve --no-workers"
    assert server.process is not None
    try:
        cpu_before = cpu_seconds(server.process.pid)
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.loadgen",
                server.url,
                key,
                str(args.seconds),
                str(args.connections),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        cpu_ms = 1000 * (cpu_seconds(server.process.pid) - cpu_before)
        result = json.loads(out.stdout)
        latencies = result["latencies_ms"]
        throughput: float = len(latencies) / result["elapsed_s"]
        cpu_per_post = cpu_ms / max(len(latencies), 1)
        print(
            f"write acceptance ({env_note}, metrics {metrics}), "
            f"{args.connections} connections, {args.seconds:.0f} s"
        )
        print(f"  requests: {len(latencies)}  statuses: {result['statuses']}")
        print(f"  throughput: {throughput:.0f} POST/s")
        print(f"  latency ms: {percentiles(latencies)}")
        print(f"  server CPU: {cpu_per_post:.3f} ms per POST")
        print(f"  server RSS: {rss_mib(server.process.pid):.0f} MiB")
        return throughput, cpu_per_post
    finally:
        server.stop()


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
    parser.add_argument("--metrics", choices=("both", "on", "off"), default="both")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of on and off (both)")
    args = parser.parse_args()
    if args.metrics != "both":
        measure(args, args.metrics)
        return
    rates: dict[str, list[float]] = {"on": [], "off": []}
    cpu: dict[str, list[float]] = {"on": [], "off": []}
    for round_ in range(args.rounds):
        # Alternate which goes first, so neither always meets a warmer machine.
        for metrics in ("on", "off") if round_ % 2 == 0 else ("off", "on"):
            rate, cpu_per_post = measure(args, metrics)
            rates[metrics].append(rate)
            cpu[metrics].append(cpu_per_post)
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


if __name__ == "__main__":
    main()
