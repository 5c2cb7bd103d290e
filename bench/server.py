"""Start a real `pixsearch serve` for a benchmark, with its own data directory and key; or
the bare FastAPI endpoint that write acceptance is measured against (bench/bare.py)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.e2e.server import ServerProcess, cli, free_port


def start_server(data_dir: Path | None = None, *args: str, **env: str) -> tuple[ServerProcess, str]:
    """A running server and an API key for it."""
    data_dir = data_dir or Path(tempfile.mkdtemp(prefix="pixsearch-bench-"))
    key = cli(data_dir, "keys", "create", "--org", "bench", **env).strip().split()[-1]
    env.setdefault("PIXSEARCH_LOG_LEVEL", "warning")
    return ServerProcess(data_dir, *args, **env).start(), key


class BareServer:
    """`python -m bench.bare PORT` on a free port; ready when /health answers."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen([sys.executable, "-m", "bench.bare", str(self.port)])

    def start(self, timeout_s: float = 30.0) -> BareServer:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("the bare server exited")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("the bare server did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
