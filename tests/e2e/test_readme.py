"""The README's shell examples run as written: a key, a served picture, `pixsearch serve`,
the curl that adds it, and the batch that indexes a local folder."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.server import free_port, server_env

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def readme_blocks() -> tuple[str, str]:
    blocks = re.findall(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    run = next(b for b in blocks if "pip install -e" in b)
    folder = next(b for b in blocks if "batch.json" in b)
    return run, folder


@pytest.mark.skipif(shutil.which("curl") is None, reason="the README's examples use curl")
def test_the_readme_examples_work_as_written(tmp_path: Path) -> None:
    run, folder = readme_blocks()
    run = "\n".join(line for line in run.splitlines() if not line.startswith("pip install"))
    api, pictures = free_port(), free_port()
    script = "\n".join(
        [
            "set -euo pipefail",
            "trap 'kill $(jobs -p) 2>/dev/null' EXIT",  # the servers the examples start
            run,
            folder.replace("/tmp/batch.json", f"{tmp_path}/batch.json"),
            'sleep 1; curl -fs -H "API-Key: $KEY" http://localhost:8000/imgs/42',
        ]
    )
    script = script.replace("8000", str(api)).replace("9000", str(pictures))
    env = server_env(tmp_path / "data", HOME=str(tmp_path))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    done = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    added = json.loads(done.stdout[done.stdout.rindex('{"image_id"') :])  # the last curl
    assert added["image_id"] == "42" and added["width"] == 640 and added["title"] == "A red car"
    assert '"all_good":true' in done.stdout  # the curl with wait=true
    assert '"operation_id"' in done.stdout  # the folder's batch was accepted
