"""Migration 0008_pgfacets on a PostgreSQL database that already holds images: each
full-text row gets its image's organisation, so ranking stays within it."""

from __future__ import annotations

import sqlalchemy as sa

from pixsearch.backend import open_backend
from pixsearch.db.engine import writer
from pixsearch.db.migrate import upgrade
from pixsearch.db.tables import images
from pixsearch.index.fulltext import tsvector_text
from tests.postgres import PostgresCluster, no_postgres


def test_full_text_rows_get_their_organisation(postgres: PostgresCluster | None) -> None:
    if postgres is None:
        no_postgres()
    with postgres.migrated_to("0007") as engine:
        with writer(engine).begin() as conn:
            for pk, org, image_id in ((1, 1, "same"), (2, 2, "same"), (3, 1, "other")):
                row = {"id": pk, "org_id": org, "image_id": image_id}
                conn.execute(sa.insert(images).values(**row, created_at=pk, updated_at=pk))
                document = tsvector_text(("red car", "", "", "", "", ""))
                conn.exec_driver_sql(
                    "INSERT INTO images_fts (rowid, document) VALUES (%s, %s::tsvector)",
                    (pk, document),
                )
        upgrade(engine)
        with engine.connect() as conn:
            owners = dict(conn.exec_driver_sql("SELECT rowid, org_id FROM images_fts").all())
            backend = open_backend(engine)
            ranked = {
                org: backend.fulltext.rank(conn, org, "car", "en", None).tolist() for org in (1, 2)
            }
            backend.close()
        assert owners == {1: 1, 2: 2, 3: 1}
        assert ranked == {1: [1, 3], 2: [2]}
