"""Soak: mixed writes and searches at about half the measured capacity, for a long time.

A real `pixsearch serve` on SQLite (its in-process workers on, no models) and a loopback
image server. First the capacity of the mix is measured closed-loop (`--clients` requests
in flight); then the same mix is sent open-loop at `--load` (default 0.5) of that rate for
`--minutes`. The mix: adds of new images (loopback JPEGs), patches, deletes, strict adds
of an existing id (they must fail) and searches; writes use `wait=true`, so a write's
latency is until it is applied. Every minute: the server's RSS, the queue depth and the
p50/p99 latency of that minute; at the end, whether the queue drained, and the memory
drift after warm-up. Goal (issue 9): memory flat within +-10 % after warm-up, p99 stable,
queue drained at the end.

    python -m bench.soak [--minutes 30] [--warmup-minutes 2] [--capacity-seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.server import start_server
from bench.stats import percentiles, rss_mib
from tests.e2e.server import ServerProcess
from tests.imageserver import ImageServer

CATALOGUE = 1_000  # images kept around: adds beyond it become deletes, so memory can settle
PINNED = 20
QUERIES = ("", "t~soak", "w>32", "o=landscape", "k=red", "t~~soak")


@dataclass
class Mix:
    """The requests of the soak, and what the service must answer to each."""

    api: str
    key: str
    images: ImageServer
    rng: random.Random = field(default_factory=lambda: random.Random(9))
    known: list[str] = field(default_factory=list)  # may be patched and deleted
    pinned: list[str] = field(default_factory=list)  # never deleted: strict adds aim here
    serial: int = 0
    failures: Counter[str] = field(default_factory=Counter)

    def pick(self) -> str:
        kind = self.rng.choices(
            ("add", "patch", "delete", "strict", "search"), weights=(30, 25, 10, 10, 25)
        )[0]
        if (kind in ("patch", "delete") and not self.known) or (
            kind == "strict" and not self.pinned
        ):
            return "add"
        if kind == "add" and len(self.known) >= CATALOGUE:
            return "delete"
        return kind

    async def send(self, client: httpx.AsyncClient, kind: str) -> None:
        """One request of `kind`; a wrong answer is counted, not raised."""
        headers = {"API-Key": self.key}
        wait = {"wait": "true"}
        if kind == "search":
            query = self.rng.choice(QUERIES)
            response = await client.get("/imgs", params={"q": query}, headers=headers)
            self.expect(kind, response, 200)
            return
        if kind == "add":
            self.serial += 1
            image_id = f"soak-{self.serial}"
            src = self.images.url(f"/img/seed{self.serial % 5000}-64x48.jpg")
            body = {"src": src, "title": "soak", "keywords": ["red"] if self.serial % 2 else []}
            response = await client.post(
                f"/imgs/{image_id}", params=wait, json=body, headers=headers
            )
            if self.expect(kind, response, 200, all_good=True):
                (self.pinned if len(self.pinned) < PINNED else self.known).append(image_id)
            return
        if kind == "strict":  # an add of an id that exists: it must fail, nothing applied
            body = {"src": self.images.url("/img/strict.jpg")}
            response = await client.post(
                f"/imgs/{self.rng.choice(self.pinned)}",
                params={**wait, "strict": "true"},
                json=body,
                headers=headers,
            )
            self.expect(kind, response, 200, all_good=False)
            return
        image_id = self.rng.choice(self.known)
        if kind == "patch":
            body = {"title": f"soak {self.rng.random():.6f}"}
            response = await client.patch(
                f"/imgs/{image_id}", params=wait, json=body, headers=headers
            )
            self.expect(kind, response, 200)
        else:
            self.known.remove(image_id)
            response = await client.delete(f"/imgs/{image_id}", params=wait, headers=headers)
            self.expect(kind, response, 200)

    def expect(
        self, kind: str, response: httpx.Response, status: int, all_good: bool | None = None
    ) -> bool:
        ok = response.status_code == status and (
            all_good is None or response.json().get("all_good") is all_good
        )
        if not ok:
            self.failures[f"{kind} {response.status_code}"] += 1
        return ok


async def timed(mix: Mix, client: httpx.AsyncClient, latencies: list[float]) -> None:
    kind = mix.pick()
    started = time.perf_counter()
    try:
        await mix.send(client, kind)
    except httpx.HTTPError as error:
        mix.failures[f"{kind} {type(error).__name__}"] += 1
    latencies.append((time.perf_counter() - started) * 1000)


async def measure_capacity(
    mix: Mix, client: httpx.AsyncClient, seconds: float, clients: int
) -> float:
    """Requests per second of the mix with `clients` always in flight."""
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []

    async def loop() -> None:
        while time.perf_counter() < deadline:
            await timed(mix, client, latencies)

    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(clients)))
    return len(latencies) / (time.perf_counter() - started)


def queue_depth(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "pixsearch.db", timeout=30) as conn:
        row = conn.execute("SELECT count(*) FROM operations WHERE state <> 'finished'").fetchone()
    return int(row[0])


async def soak(
    mix: Mix, client: httpx.AsyncClient, server: ServerProcess, rate: float, minutes: int
) -> list[dict[str, float]]:
    """Send the mix at `rate` per second (open loop) and report every minute."""
    rows: list[dict[str, float]] = []
    in_flight: set[asyncio.Task[None]] = set()
    interval = 1.0 / rate
    next_at = time.perf_counter()
    for minute in range(1, minutes + 1):
        latencies: list[float] = []
        sent = 0
        minute_end = time.perf_counter() + 60
        while time.perf_counter() < minute_end:
            next_at += mix.rng.expovariate(1.0) * interval
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            task = asyncio.create_task(timed(mix, client, latencies))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            sent += 1
        row = {
            "minute": minute,
            "sent": sent,
            "rss_mib": round(rss_mib(server.pid), 1),
            "queue": queue_depth(server.data_dir),
            "in_flight": len(in_flight),
            "done": len(latencies),  # those sent this minute that also finished in it
            **percentiles(latencies or [float("nan")], (50, 99)),
        }
        rows.append(row)
        print(
            f"minute {minute:3d}: sent {sent:5d}  done {row['done']:5d}  "
            f"rss {row['rss_mib']:7.1f} MiB  queue {row['queue']:4d}  "
            f"in flight {row['in_flight']:3d}  p50 {row['p50']:7.1f} ms  p99 {row['p99']:7.1f} ms",
            flush=True,
        )
    await asyncio.gather(*in_flight)
    return rows


async def run(args: argparse.Namespace) -> None:
    server, key = start_server(None, PIXSEARCH_WAIT_TIMEOUT_S="60")
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
    try:
        with ImageServer() as images:
            async with httpx.AsyncClient(base_url=server.url, timeout=120, limits=limits) as client:
                mix = Mix(server.url, key, images)
                capacity = await measure_capacity(mix, client, args.capacity_seconds, args.clients)
                rate = capacity * args.load
                print(
                    f"capacity of the mix: {capacity:.1f} requests/s with {args.clients} in "
                    f"flight; soaking at {rate:.1f}/s ({args.load:.0%}) for {args.minutes} min",
                    flush=True,
                )
                rows = await soak(mix, client, server, rate, args.minutes)
            drained_in = wait_drained(server, timeout_s=120)
        report(rows, args.warmup_minutes, drained_in, mix)
    finally:
        server.stop()


def wait_drained(server: ServerProcess, timeout_s: float) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if queue_depth(server.data_dir) == 0:
            return time.monotonic() - started
        time.sleep(0.5)
    return None


def report(rows: list[dict[str, float]], warmup: int, drained_in: float | None, mix: Mix) -> None:
    steady = [row for row in rows if row["minute"] > warmup] or rows
    rss = [row["rss_mib"] for row in steady]
    base = rss[0]
    p99 = [row["p99"] for row in steady if row["done"]] or [float("nan")]
    stalled = [int(row["minute"]) for row in steady if not row["done"]]
    print(
        f"after {warmup} min warm-up: rss {min(rss):.1f}..{max(rss):.1f} MiB "
        f"({(min(rss) - base) / base:+.1%} .. {(max(rss) - base) / base:+.1%} of minute "
        f"{steady[0]['minute']:.0f}); p99 {min(p99):.1f}..{max(p99):.1f} ms"
        + (f"; minutes where nothing sent finished: {stalled}" if stalled else "")
    )
    print(
        "queue drained at the end"
        + (f" ({drained_in:.1f} s after the last request)" if drained_in is not None else ": NO")
    )
    print(f"wrong answers: {dict(mix.failures) or 'none'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=int, default=30)
    parser.add_argument("--warmup-minutes", type=int, default=2)
    parser.add_argument("--capacity-seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--load", type=float, default=0.5, help="fraction of the capacity")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
