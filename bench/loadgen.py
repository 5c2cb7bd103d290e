"""A lean HTTP/1.1 load generator on raw asyncio streams, so the client costs little CPU.

Run as its own process: `python -m bench.loadgen URL KEY SECONDS CONNECTIONS` prints JSON
with the count and the latencies (ms) of every request.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from urllib.parse import urlsplit


async def connection(
    host: str,
    port: int,
    key: str,
    deadline: float,
    worker: int,
    latencies: list[float],
    statuses: dict[int, int],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    n = 0
    while time.perf_counter() < deadline:
        body = b'{"src": "http://127.0.0.1:9/img.jpg", "title": "benchmark image"}'
        request = (
            f"POST /imgs/w{worker}-{n} HTTP/1.1\r\nHost: {host}\r\nAPI-Key: {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        started = time.perf_counter()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        latencies.append((time.perf_counter() - started) * 1000)
        statuses[status] = statuses.get(status, 0) + 1
        n += 1
    writer.close()


async def run(url: str, key: str, seconds: float, connections: int) -> dict[str, object]:
    parts = urlsplit(url)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    await asyncio.gather(
        *(
            connection(
                parts.hostname or "127.0.0.1",
                parts.port or 80,
                key,
                deadline,
                i,
                latencies,
                statuses,
            )
            for i in range(connections)
        )
    )
    return {
        "elapsed_s": time.perf_counter() - started,
        "latencies_ms": latencies,
        "statuses": statuses,
    }


if __name__ == "__main__":
    url, key, seconds, connections = sys.argv[1:5]
    print(json.dumps(asyncio.run(run(url, key, float(seconds), int(connections)))))
