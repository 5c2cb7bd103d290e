"""PostgreSQL: full-text postings, one row per (word, image) with the word's rank weight

Revision ID: 0010_pgfacets2
Revises: 0009_pgvector

`images_fts_words` (PostgreSQL only, so not in `db.tables`) holds, for each lexeme of each
image's tsvector, the image's organisation and the word's `weight`: the sum of the column
weights 3, 2, 1 (tsvector weights A, B, C) of the word's positions in the tsvector. For a
tsquery that ORs lexemes, ts_rank_cd with weights {0, 1/3, 2/3, 1} is a third of the sum
of these weights over the query's words, so ranking reads this index in order (one word)
or sums a few integers per hit, instead of decoding every hit's tsvector.

`ix_images_fts_words_rank` (org_id, word, weight DESC, image_pk) answers a word's hits
best first by an index-only scan; `ix_images_fts_words_image` serves deletes. The rows are
filled here from the existing tsvectors, by the same statement the write half runs.
"""

from __future__ import annotations

from alembic import op

revision = "0010_pgfacets2"
down_revision = "0009_pgvector"
branch_labels = None
depends_on = None

# index.fulltext.POSTINGS_FROM_DOCUMENTS as of this revision, for every row.
BACKFILL = """
INSERT INTO images_fts_words (org_id, word, image_pk, weight)
SELECT f.org_id, u.lexeme, f.rowid, (
    SELECT coalesce(sum(CASE w WHEN 'A' THEN 3 WHEN 'B' THEN 2 WHEN 'C' THEN 1 ELSE 0 END), 0)
    FROM unnest(u.weights) AS w)
FROM images_fts f, unnest(f.document) AS u
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE TABLE images_fts_words ("
        " org_id integer NOT NULL, word text NOT NULL, image_pk integer NOT NULL,"
        " weight integer NOT NULL)"
    )
    op.execute(BACKFILL)
    op.execute(
        "CREATE INDEX ix_images_fts_words_rank "
        "ON images_fts_words (org_id, word, weight DESC, image_pk)"
    )
    op.execute("CREATE INDEX ix_images_fts_words_image ON images_fts_words (image_pk)")
    op.execute("ANALYZE images_fts_words")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TABLE images_fts_words")
