"""The HNSW indexes rebuilt with twice the candidates while linking (ef_construction 128).

Built with pgvector's default 64, about 5 % of the vectors of 10^6 clustered ones had no
link to them that a search could follow: no query, not even the vector itself, found
them (bench/pg_search.py, docs/performance.md). With 128 the graph reaches them, for about
1.4 times the build time; `m` stays 16 (24 and 32 linked less well at 10^5 for more
time). Same name, same halfvec form as 0009_pgvector; the rebuild reads every vector of the
dimension (about half an hour at 10^6 on two cores).

Revision ID: 0011_pgvector2
Revises: 0010_pgfacets2
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_pgvector2"
down_revision = "0010_pgfacets2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    rebuild(op.get_bind(), ef_construction=128)


def downgrade() -> None:
    rebuild(op.get_bind(), ef_construction=64)


def rebuild(bind: sa.Connection, ef_construction: int) -> None:
    """Each HNSW index (named ix_embeddings_hnsw_<dim>) in the form of
    index.pgvector.hnsw_index_sql, with `ef_construction`."""
    if bind.dialect.name != "postgresql":
        return
    rows = bind.exec_driver_sql(
        "SELECT indexname FROM pg_indexes WHERE tablename = 'embeddings' "
        "AND starts_with(indexname, 'ix_embeddings_hnsw_')"
    )
    for dim in [int(name.rsplit("_", 1)[1]) for (name,) in rows]:
        bind.exec_driver_sql(f"DROP INDEX ix_embeddings_hnsw_{dim}")
        bind.exec_driver_sql(
            f"CREATE INDEX ix_embeddings_hnsw_{dim} ON embeddings USING hnsw "
            f"((embedding::halfvec({dim})) halfvec_cosine_ops) "
            f"WITH (m = 16, ef_construction = {ef_construction}) "
            f"WHERE vector_dims(embedding) = {dim}"
        )
