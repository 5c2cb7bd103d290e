"""search on PostgreSQL: pgvector column, tsvector table, folding and Hamming functions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 10:00:00

Every step is PostgreSQL-only: SQLite searches with FTS5, Python SQL functions and an
in-memory vector index (see src/pixsearch/search/).

Embeddings get an untyped `vector` column beside the float32 bytes. Dimensions differ per
model (512 for CLIP ViT-B/32, 384 for MiniLM captions, others for other models), and a
typed `vector(512)` column per kind would need a migration for every new model size. An
HNSW index needs a fixed dimension, so it is a partial expression index per dimension,
`(embedding::vector(d))` where `vector_dims(embedding) = d`, created by the apply step when
a dimension is first stored (`pixsearch.index.pgvector.ensure_hnsw_index`).

The column's storage is MAIN: pgvector's default, EXTERNAL, moves every vector past 2 KB
(512 dimensions) into the TOAST table, and exact search then reads each row through the
TOAST index, once per function of the vector in the query (about 4 buffers a time; 0.7 s
for 100k vectors). MAIN keeps a vector in its row unless the row would pass a page. The
statistics on `vector_dims(embedding)` give the planner the share of each dimension, which
the search's filter names; without them it takes 0.5 % and orders the joins for that.
"""

from __future__ import annotations

import numpy as np
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Python's fold (pixsearch.vocabulary.text): NFKD of the case-folded text without combining
# marks. PostgreSQL has no unaccent here (not in every build); these ranges are the
# combining marks of Latin, Greek and Cyrillic text. lower() is casefold() but for ß.
FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION pixsearch_fold(text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT regexp_replace(normalize(lower($1), NFKD),
    '[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]', '', 'g')
$$;
CREATE OR REPLACE FUNCTION pixsearch_nfc(text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ SELECT normalize($1, NFC) $$;
CREATE OR REPLACE FUNCTION pixsearch_word_prefix(text, text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT pixsearch_fold($1)
    ~ ('(^|[^[:alnum:]])' || regexp_replace($2, '([^[:alnum:]])', '\\\1', 'g'))
$$;
CREATE OR REPLACE FUNCTION pixsearch_hamming(bigint, bigint) RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT bit_count(($1 # $2)::bit(64))::integer
$$;
"""
BACKFILL_BATCH = 1000


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.execute("ALTER TABLE embeddings ADD COLUMN embedding vector")
    op.execute("ALTER TABLE embeddings ALTER COLUMN embedding SET STORAGE MAIN")
    op.execute("CREATE STATISTICS st_embeddings_dims ON (vector_dims(embedding)) FROM embeddings")
    op.execute(
        "CREATE TABLE images_fts ("
        " rowid integer PRIMARY KEY REFERENCES images (id) ON DELETE CASCADE,"
        " document tsvector NOT NULL)"
    )
    op.execute("CREATE INDEX ix_images_fts_document ON images_fts USING gin (document)")
    op.execute(FUNCTIONS)
    backfill_embeddings(bind)


def backfill_embeddings(bind: sa.Connection) -> None:
    """Copy the vectors stored before this revision into the new column."""
    rows = bind.exec_driver_sql("SELECT image_pk, kind, vector FROM embeddings").fetchall()
    for start in range(0, len(rows), BACKFILL_BATCH):
        bind.exec_driver_sql(
            "UPDATE embeddings SET embedding = %s::vector WHERE image_pk = %s AND kind = %s",
            [
                (vector_text(np.frombuffer(blob, dtype=np.float32)), pk, kind)
                for pk, kind, blob in rows[start : start + BACKFILL_BATCH]
            ],
        )
    dims = bind.exec_driver_sql("SELECT DISTINCT vector_dims(embedding) FROM embeddings")
    for (dim,) in dims.fetchall():
        bind.exec_driver_sql(  # the name and form of index.pgvector.ensure_hnsw_index
            f"CREATE INDEX ix_embeddings_hnsw_{int(dim)} ON embeddings USING hnsw "
            f"((embedding::vector({int(dim)})) vector_cosine_ops) "
            f"WHERE vector_dims(embedding) = {int(dim)}"
        )
    # Images written before this revision reach the full-text table on their next update.


def vector_text(vector: np.ndarray) -> str:
    return "[" + ",".join(repr(float(value)) for value in vector) + "]"


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "DROP FUNCTION pixsearch_hamming(bigint, bigint); "
        "DROP FUNCTION pixsearch_word_prefix(text, text); "
        "DROP FUNCTION pixsearch_nfc(text); DROP FUNCTION pixsearch_fold(text)"
    )
    op.execute("DROP TABLE images_fts")
    op.execute("ALTER TABLE embeddings DROP COLUMN embedding")  # drops the HNSW indexes too
