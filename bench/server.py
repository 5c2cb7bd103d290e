"""Start a real `pixsearch serve` for a benchmark, with its own data directory and key."""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests.e2e.server import ServerProcess, cli


def start_server(data_dir: Path | None = None, *args: str, **env: str) -> tuple[ServerProcess, str]:
    """A running server and an API key for it."""
    data_dir = data_dir or Path(tempfile.mkdtemp(prefix="pixsearch-bench-"))
    key = cli(data_dir, "keys", "create", "--org", "bench").strip().split()[-1]
    env.setdefault("PIXSEARCH_LOG_LEVEL", "warning")
    return ServerProcess(data_dir, *args, **env).start(), key
