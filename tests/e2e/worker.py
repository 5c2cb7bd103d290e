"""A real `pixsearch worker` process for end-to-end tests."""

from __future__ import annotations

from tests.e2e.server import PixsearchProcess


class WorkerProcess(PixsearchProcess):
    """`pixsearch worker`; ready when it logs that it started."""

    what = "worker"

    def command(self) -> list[str]:
        return ["worker", *self.args]

    def is_ready(self, new_log: bytes) -> bool:
        return b"worker started" in new_log
