"""The HNSW indexes over halfvec: half the size, the same recall (pgvector >= 0.7).

Each per-dimension HNSW index of migration 0002 is rebuilt over the vectors rounded to
`halfvec` (`(embedding::halfvec(d)) halfvec_cosine_ops`), with the build parameters chosen
by bench/pg_search.py; the `embedding` column keeps full precision, so scores and exact
search are unchanged. The rebuild reads every vector of the dimension: minutes at 10^6.
pgvector older than 0.7 has no halfvec, and this revision stops with what to install.

Revision ID: 0009_pgvector
Revises: 0008_pgfacets
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_pgvector"
down_revision = "0008_pgfacets"
branch_labels = None
depends_on = None

OLDEST_PGVECTOR = (0, 7)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    version = bind.exec_driver_sql(
        "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
    ).scalar_one()
    if tuple(int(part) for part in version.split(".")) < OLDEST_PGVECTOR:
        raise RuntimeError(
            f"pgvector {version} is too old: pixsearch needs 0.7 or later (0.8 for filtered "
            "HNSW search); install it, then ALTER EXTENSION vector UPDATE (docs/deployment.md)"
        )
    for dim in indexed_dimensions(bind):
        bind.exec_driver_sql(f"DROP INDEX ix_embeddings_hnsw_{dim}")
        bind.exec_driver_sql(  # the name and form of index.pgvector.hnsw_index_sql
            f"CREATE INDEX ix_embeddings_hnsw_{dim} ON embeddings USING hnsw "
            f"((embedding::halfvec({dim})) halfvec_cosine_ops) "
            "WITH (m = 16, ef_construction = 64) "
            f"WHERE vector_dims(embedding) = {dim}"
        )


def indexed_dimensions(bind: sa.Connection) -> list[int]:
    """The dimensions with an HNSW index (named ix_embeddings_hnsw_<dim>)."""
    rows = bind.exec_driver_sql(
        "SELECT indexname FROM pg_indexes WHERE tablename = 'embeddings' "
        "AND starts_with(indexname, 'ix_embeddings_hnsw_')"
    )
    return [int(name.rsplit("_", 1)[1]) for (name,) in rows]


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for dim in indexed_dimensions(bind):
        bind.exec_driver_sql(f"DROP INDEX ix_embeddings_hnsw_{dim}")
        bind.exec_driver_sql(  # migration 0002's form
            f"CREATE INDEX ix_embeddings_hnsw_{dim} ON embeddings USING hnsw "
            f"((embedding::vector({dim})) vector_cosine_ops) "
            f"WHERE vector_dims(embedding) = {dim}"
        )
