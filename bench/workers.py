"""Operations per second with 1, 2 and 4 `pixsearch worker` processes on PostgreSQL, and
write acceptance with 1 and 2 API processes.

Every run gets a fresh database on a throwaway PostgreSQL (tests/postgres.py). The workers
are started and idle first; then all operations are queued in one transaction (what the
API's group commit does), whose NOTIFY wakes every worker at once. The rate is
operations / (last finished_at - first started_at). Operations come from several
organisations, since one organisation's run one at a time. Kinds: `metadata` (one patch
of an existing image each) and `pipeline` (one add each: fetch a 1-2 MP JPEG from
loopback, decode, pHash; models off).

    python -m bench.workers [--metadata-ops 600] [--pipeline-ops 160] [--seconds 8]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg

from bench.ingest import folder_server, make_pictures
from pixsearch.db.dialect import dialect_of
from pixsearch.db.engine import create_db_engine
from pixsearch.operations import store
from pixsearch.operations.listener import libpq_dsn
from pixsearch.vocabulary.operations import NewItem, NewOperation
from tests.e2e.server import ServerProcess, cli
from tests.e2e.worker import WorkerProcess
from tests.postgres import PostgresCluster, start_cluster

ORGS = 8
QUIET = {"PIXSEARCH_LOG_LEVEL": "warning"}


def scalar(url: str, sql: str) -> object:
    with psycopg.connect(libpq_dsn(url), autocommit=True) as conn:
        row = conn.execute(sql).fetchone()  # type: ignore[arg-type]
        assert row is not None
        return row[0]


def make_keys(work: Path, env: dict[str, str]) -> list[str]:
    return [cli(work, "keys", "create", "--org", f"o{n}", **env).split()[-1] for n in range(ORGS)]


def wait_finished(url: str, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while scalar(url, "SELECT count(*) FROM operations WHERE state <> 'finished'"):
        if time.monotonic() > deadline:
            raise RuntimeError("operations did not finish")
        time.sleep(0.1)


def send(client: httpx.Client, method: str, path: str, key: str, body: object) -> None:
    response = client.request(method, path, json=body, headers={"API-Key": key})
    assert response.status_code in (200, 202), response.text


def enqueue_all(url: str, kind: str, n_ops: int, image_urls: list[str]) -> None:
    """Queue every operation in one transaction: the workers see them all at once."""
    new = []
    for n in range(n_ops):
        org = n % ORGS + 1  # organisations o0..o7 were created in order (checked below)
        if kind == "metadata":
            body = {"title": f"title {n}", "keywords": [f"k{n}", "bench"]}
            item = NewItem(f"i{org - 1}-{n // ORGS % 10}", f"i{org - 1}-{n // ORGS % 10}", body)
            new.append(NewOperation(org, "upd", "patch", [item]))
        else:
            body = {"src": image_urls[n % len(image_urls)], "title": f"t{n}"}
            new.append(NewOperation(org, "add", "add", [NewItem(f"p{n}", f"p{n}", body)]))
    assert scalar(url, "SELECT string_agg(name, ',' ORDER BY id) FROM organisations") == ",".join(
        f"o{n}" for n in range(ORGS)
    )
    engine = create_db_engine(url)
    with engine.begin() as conn:
        store.enqueue_many(conn, dialect_of(conn), new)
    engine.dispose()


def rate(url: str, kind: str, start_ms: int) -> tuple[int, float]:
    """Operations of `kind` (queued after `start_ms`) and their rate per second."""
    n, span_ms = (
        scalar(url, f"SELECT {part} FROM operations WHERE created_at >= {start_ms}")
        for part in ("count(*)", "max(finished_at) - min(started_at)")
    )
    assert scalar(url, f"SELECT bool_and(all_good) FROM operations WHERE created_at >= {start_ms}")
    print(f"    ({kind}: {n} operations in {int(span_ms) / 1000:.2f} s)", file=sys.stderr)  # type: ignore[call-overload]
    return int(n), int(n) / (int(span_ms) / 1000)  # type: ignore[call-overload]


def run_ops(
    cluster: PostgresCluster, n_workers: int, kind: str, n_ops: int, image_urls: list[str]
) -> float:
    """Start the workers, queue `n_ops` operations at once; return operations per second."""
    with cluster.database() as url, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {"PIXSEARCH_DATABASE_URL": url, "PIXSEARCH_FETCH_ALLOW_NETS": "127.0.0.0/8", **QUIET}
        keys = make_keys(work, env)
        api = ServerProcess(work, "--no-workers", **env).start()
        worker_env = {**env, "PIXSEARCH_LOG_LEVEL": "info"}  # "worker started" says ready
        workers = [WorkerProcess(work, f"w{n}", **worker_env) for n in range(n_workers)]
        try:
            with httpx.Client(base_url=api.url, timeout=60) as client:
                if kind == "metadata":  # the images to patch, added before the clock starts
                    for o, key in enumerate(keys):
                        body = [{"id": f"i{o}-{i}", "src": image_urls[i]} for i in range(10)]
                        send(client, "POST", "/imgs", key, body)
                    workers[0].start()
                    wait_finished(url)
                    workers[0].stop()
            for worker in workers:
                worker.start()
            start_ms = int(scalar(url, "SELECT (extract(epoch FROM now()) * 1000)::bigint"))  # type: ignore[call-overload]
            enqueue_all(url, kind, n_ops, image_urls)
            wait_finished(url)
            if kind == "metadata":  # the patches found their images (a miss is a no-op)
                assert scalar(url, "SELECT count(*) FROM images WHERE title LIKE 'title %'")
            return rate(url, kind, start_ms)[1]
        finally:
            for process in (*workers, api):
                process.stop()


def run_writes(cluster: PostgresCluster, n_api: int, seconds: float, connections: int) -> str:
    """Asynchronous single-image POSTs per second against `n_api` serve --no-workers."""
    with cluster.database() as url, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {"PIXSEARCH_DATABASE_URL": url, **QUIET}
        key = make_keys(work, env)[0]
        apis = [
            ServerProcess(work / f"api{n}", "--no-workers", **env).start() for n in range(n_api)
        ]
        try:
            loads = [
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "bench.loadgen",
                        api.url,
                        key,
                        str(seconds),
                        str(connections),
                    ],
                    stdout=subprocess.PIPE,
                    text=True,
                )
                for api in apis
            ]
            results = [json.loads(load.communicate()[0]) for load in loads]
        finally:
            for api in apis:
                api.stop()
        latencies = sorted(ms for r in results for ms in r["latencies_ms"])
        total = sum(len(r["latencies_ms"]) for r in results)
        per_s = sum(len(r["latencies_ms"]) / r["elapsed_s"] for r in results)
        p50, p95 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.95)]
        statuses: dict[str, int] = {}
        for r in results:
            for status, count in r["statuses"].items():
                statuses[status] = statuses.get(status, 0) + count
        return (
            f"{per_s:6.0f} POST/s  p50 {p50:.1f} ms  p95 {p95:.1f} ms  "
            f"({total} requests, statuses {statuses})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metadata-ops", type=int, default=600)
    parser.add_argument("--pipeline-ops", type=int, default=160)
    parser.add_argument("--workers", default="1,2,4", help="worker process counts")
    parser.add_argument("--seconds", type=float, default=8.0, help="write acceptance run")
    parser.add_argument("--connections", type=int, default=8, help="per API process")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    pics = Path(tempfile.mkdtemp(prefix="pixsearch-workers-"))
    names = make_pictures(pics, 100)
    print(
        f"machine: {os.cpu_count()} CPU cores, shared by PostgreSQL, the API, the workers, "
        "the image server and the client; worker --concurrency 4; models off"
    )
    with folder_server(pics) as base, start_cluster() as cluster:
        urls = [f"{base}/{name}" for name in names]
        assert cluster is not None, "needs pgserver or PIXSEARCH_TEST_POSTGRES_URL"
        for kind, n_ops in (("metadata", args.metadata_ops), ("pipeline", args.pipeline_ops)):
            print(f"{kind} operations ({n_ops}, one item each, {ORGS} organisations):")
            for n in counts:
                per_s = run_ops(cluster, n, kind, n_ops, urls)
                print(f"  {n} worker process(es): {per_s:7.1f} operations/s")
        print(
            f"write acceptance, {args.connections} connections per API process, "
            f"{args.seconds:.0f} s, no workers:"
        )
        for n_api in (1, 2):
            line = run_writes(cluster, n_api, args.seconds, args.connections)
            print(f"  {n_api} API process(es): {line}")


if __name__ == "__main__":
    main()
