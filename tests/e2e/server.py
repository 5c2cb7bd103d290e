"""Real `pixsearch` processes for end-to-end tests, and the CLI."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Self

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(data_dir: Path, *args: str, **env: str) -> str:
    """Run `pixsearch ARGS` against `data_dir` (and `env`); return its output."""
    result = subprocess.run(
        [sys.executable, "-m", "pixsearch", *args],
        env=server_env(data_dir, **env),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout


def server_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXSEARCH_")}
    env.update(
        {
            "PIXSEARCH_DATA_DIR": str(data_dir),
            "PIXSEARCH_FETCH_ALLOW_NETS": "127.0.0.0/8",
            "PIXSEARCH_CLIP_MODEL": "",
            "PIXSEARCH_TEXT_MODEL": "",
            "PIXSEARCH_FACE_DETECTOR": "off",
            "PIXSEARCH_CLASSIFIER": "off",  # the queue is under test here, not the models
            "PIXSEARCH_COLORS": "off",
            "PIXSEARCH_WORKER_POLL_S": "0.1",
            "PIXSEARCH_FETCH_BACKOFF_S": "0.05",
        }
    )
    env.update(extra)
    return env


class PixsearchProcess:
    """A `python -m pixsearch ...` subprocess with its own log: start it, wait until it is
    ready, kill -9 it or stop it."""

    what = "process"

    def __init__(self, data_dir: Path, log_name: str, *args: str, **env: str) -> None:
        self.data_dir = data_dir
        self.args = args
        self.env = env
        self.log = data_dir / f"{log_name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def command(self) -> list[str]:
        """The pixsearch command line (after `python -m pixsearch`)."""
        raise NotImplementedError

    def is_ready(self, new_log: bytes) -> bool:
        """Whether the process is ready, given what it logged since this start."""
        raise NotImplementedError

    def start(self, timeout_s: float = 30.0) -> Self:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        seen = self.log.stat().st_size if self.log.exists() else 0  # earlier runs' lines
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pixsearch", *self.command()],
                env=server_env(self.data_dir, **self.env),
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.what} exited: {self.log.read_text()[-2000:]}")
            if self.is_ready(self.log.read_bytes()[seen:]):
                return self
            time.sleep(0.1)
        raise RuntimeError(f"{self.what} not ready: {self.log.read_text()[-2000:]}")

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

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ServerProcess(PixsearchProcess):
    """`pixsearch serve` on a free port; ready when /health answers 200."""

    what = "server"

    def __init__(self, data_dir: Path, *args: str, **env: str) -> None:
        super().__init__(data_dir, "server", *args, **env)
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return ["serve", "--port", str(self.port), *self.args]

    def is_ready(self, new_log: bytes) -> bool:
        try:
            return httpx.get(f"{self.url}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False
