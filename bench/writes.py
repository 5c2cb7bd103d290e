"""Write acceptance: asynchronous single-image POSTs per second and their latency.

The server is a real `pixsearch serve`; the load comes from a second process
(bench/loadgen.py). Goal (issue 2): >= 1,500 per second at p50 <= 5 ms.

    python -m bench.writes [--seconds 10] [--connections 8] [--no-workers]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from bench.server import start_server
from bench.stats import percentiles, rss_mib


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
    args = parser.parse_args()
    server, key = start_server(None, *([] if args.workers else ["--no-workers"]))
    env_note = "in-process workers running" if args.workers else "serve --no-workers"
    try:
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
        result = json.loads(out.stdout)
        latencies = result["latencies_ms"]
        print(
            f"write acceptance ({env_note}), {args.connections} connections, {args.seconds:.0f} s"
        )
        print(f"  requests: {len(latencies)}  statuses: {result['statuses']}")
        print(f"  throughput: {len(latencies) / result['elapsed_s']:.0f} POST/s")
        print(f"  latency ms: {percentiles(latencies)}")
        assert server.process is not None
        print(f"  server RSS: {rss_mib(server.process.pid):.0f} MiB")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
