"""A real `pixsearch worker` process for end-to-end tests."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.server import server_env


class WorkerProcess:
    """Start, await readiness, kill -9 or stop a `pixsearch worker`."""

    def __init__(self, data_dir: Path, name: str, *args: str, **env: str) -> None:
        self.data_dir = data_dir
        self.args = args
        self.env = env
        self.log = data_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout_s: float = 30.0) -> WorkerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        seen = self.log.stat().st_size if self.log.exists() else 0  # earlier runs' lines
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pixsearch", "worker", *self.args],
                env=server_env(self.data_dir, **self.env),
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited: {self.log.read_text()[-2000:]}")
            if re.search(rb"worker started", self.log.read_bytes()[seen:]):
                return self
            time.sleep(0.1)
        raise RuntimeError(f"worker not ready: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """kill -9: no shutdown code runs."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
