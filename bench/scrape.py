"""What one scrape of /metrics costs: the exposition, with the queue and vector counts read
from the database, on SQLite with N stored vectors and 100k finished operations.

Vectors are stored with 8-byte blobs: the counts read the covering index
ix_embeddings_org_kind_model (the plan is printed), never the blobs, so their size does
not change the figure.

    python -m bench.scrape [--sizes 100000 1000000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from bench.stats import percentiles
from pixsearch.db.engine import create_db_engine
from pixsearch.db.migrate import upgrade
from pixsearch.db.tables import embeddings, images, operations, organisations
from pixsearch.monitoring.metrics import Metrics

FINISHED_OPS = 100_000
BATCH = 50_000


def fill(engine: sa.Engine, n: int) -> None:
    """One organisation with n images, each with a clip vector; finished operations."""
    with engine.begin() as conn:
        org = conn.execute(
            sa.insert(organisations)
            .values(name="bench", created_at=0)
            .returning(organisations.c.id)
        ).scalar_one()
        for start in range(0, n, BATCH):
            pks = range(start + 1, min(start + BATCH, n) + 1)
            conn.execute(
                sa.insert(images),
                [
                    {
                        "id": pk,
                        "org_id": org,
                        "image_id": f"i{pk}",
                        "created_at": 0,
                        "updated_at": 0,
                    }
                    for pk in pks
                ],
            )
            conn.execute(
                sa.insert(embeddings),
                [
                    {
                        "image_pk": pk,
                        "kind": "clip",
                        "org_id": org,
                        "model": "m",
                        "vector": b"8bytes..",
                    }
                    for pk in pks
                ],
            )
        ops = {
            "org_id": org,
            "method": "add",
            "mode": "add",
            "state": "finished",
            "do_wait": False,
            "do_urgent": False,
            "do_strict": False,
            "do_subset": False,
            "lang": "en",
            "num_total": 1,
            "num_good": 1,
            "num_bad": 0,
            "errors": [],
            "attempts": 1,
            "created_at": 0,
        }
        conn.execute(sa.insert(operations), [ops] * FINISHED_OPS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--scrapes", type=int, default=20)
    args = parser.parse_args()
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="pixsearch-scrape-") as folder:
            engine = create_db_engine(f"sqlite:///{Path(folder) / 'scrape.db'}")
            upgrade(engine)
            fill(engine, n)
            with engine.connect() as conn:
                plan = conn.exec_driver_sql(
                    "EXPLAIN QUERY PLAN SELECT kind, count(*) FROM embeddings GROUP BY org_id, kind"
                ).all()
            metrics = Metrics()
            metrics.watch_database(engine)
            metrics.render()  # warm the page cache, as a running server's is
            times = []
            for _ in range(args.scrapes):
                started = time.perf_counter()
                metrics.render()
                times.append((time.perf_counter() - started) * 1000)
            engine.dispose()
        print(
            f"SQLite, {n} vectors, {FINISHED_OPS} finished operations: "
            f"scrape ms {percentiles(times)}"
        )
        print(f"  plan: {'; '.join(str(row[-1]) for row in plan)}")


if __name__ == "__main__":
    main()
