"""PostgreSQL: full-text postings, one row per (word, image) with its rank weight and the
image's facet values

Revision ID: 0010_pgfacets2
Revises: 0009_pgvector

Two PostgreSQL-only tables (not in `db.tables`):

- `images_fts_words`: for each lexeme of each image's tsvector, the image's organisation,
  the word's `weight` (the sum of the column weights 3, 2, 1 (tsvector weights A, B, C) of
  its positions in the tsvector) and `facets`, the image's facet values as big-endian
  int4 codes of `facet_values`, one after the other. For a tsquery that ORs lexemes,
  ts_rank_cd with weights {0, 1/3, 2/3, 1} is a third of the sum of these weights over the
  query's words, so ranking reads an index in order (one word) or sums a few integers per
  hit instead of decoding every hit's tsvector; and the facets of the hits come from the
  same index-only scan instead of a lookup of each hit's terms and image row.
- `facet_values`: the code of each (field, folded value, spelling) that an image's facets
  name: a label field's value (folded = the value), or a list field's folded value with
  the image's first spelling of it. Codes are never reused or changed.

`ix_images_fts_words_rank` (org_id, word, weight DESC, image_pk) INCLUDE (facets) answers a
word's hits best first with their facets; `ix_images_fts_words_image` serves deletes. The
rows are filled here from the existing tsvectors, image rows and terms, as the write half
(`index.fulltext.PostgresFullText.insert`) fills them.
"""

from __future__ import annotations

from alembic import op

revision = "0010_pgfacets2"
down_revision = "0009_pgvector"
branch_labels = None
depends_on = None

# pixsearch.vocabulary.fields' LABEL_FIELDS and LIST_FIELDS, frozen with this revision.
LABEL_FIELDS = (
    "status",
    "location",
    "city",
    "country",
    "event",
    "author",
    "provider",
    "shot",
    "scene",
    "technique",
    "medium",
)
LIST_FIELDS = ("keywords", "categories", "collections")

# index.fulltext.FACET_ENTRIES, POSTINGS and FACET_CODES as of this revision, for every row.
LABELS = ", ".join(f"('{field}', i.{field})" for field in LABEL_FIELDS)
LISTS = ", ".join(f"'{field}'" for field in LIST_FIELDS)
FACET_ENTRIES = f"""
WITH entries (pk, field, norm, value) AS (
    SELECT i.id, l.field, l.value, l.value
    FROM images i CROSS JOIN LATERAL (VALUES {LABELS}) AS l (field, value)
    WHERE l.value IS NOT NULL AND {{images}}
    UNION ALL
    SELECT image_pk, field, value_norm, min(value) FROM image_terms
    WHERE field IN ({LISTS}) AND {{terms}} GROUP BY image_pk, field, value_norm)
"""
FACET_CODES = """
INSERT INTO facet_values (field, norm, value)
SELECT DISTINCT field, norm, value FROM entries ORDER BY 1, 2, 3
ON CONFLICT (key) DO NOTHING
"""
POSTINGS = """
INSERT INTO images_fts_words (org_id, word, image_pk, weight, facets)
SELECT f.org_id, u.lexeme, f.rowid, (
    SELECT coalesce(sum(CASE w WHEN 'A' THEN 3 WHEN 'B' THEN 2 WHEN 'C' THEN 1 ELSE 0 END), 0)
    FROM unnest(u.weights) AS w),
    CASE WHEN octet_length(u.lexeme) + octet_length(c.codes) > 2400 THEN NULL
    ELSE coalesce(c.codes, ''::bytea) END
FROM images_fts f
LEFT JOIN (
    SELECT e.pk, string_agg(int4send(v.code), ''::bytea ORDER BY v.code) AS codes
    FROM entries e JOIN facet_values v ON v.key = sha256(convert_to(
        length(e.field) || ':' || length(e.norm) || ':' || e.field || e.norm || e.value, 'UTF8'))
    GROUP BY e.pk) c ON c.pk = f.rowid,
unnest(f.document) AS u
WHERE {fts}
"""
EVERY_ROW = FACET_ENTRIES.format(images="true", terms="true")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # One text per (field, norm, value), unambiguous (lengths first), hashed: a label may
    # be longer than a B-tree entry can be. IMMUTABLE, though convert_to is only STABLE:
    # it depends on the database's encoding alone, which never changes.
    op.execute(
        "CREATE FUNCTION facet_key(text, text, text) RETURNS bytea "
        "LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS "
        "$$ SELECT sha256(convert_to(length($1) || ':' || length($2) || ':' || $1 || $2 || $3,"
        " 'UTF8')) $$"
    )
    op.execute(
        "CREATE TABLE facet_values ("
        " code serial PRIMARY KEY, field text NOT NULL, norm text NOT NULL,"
        " value text NOT NULL,"
        " key bytea GENERATED ALWAYS AS (facet_key(field, norm, value)) STORED UNIQUE)"
    )
    op.execute(
        "CREATE TABLE images_fts_words ("
        " org_id integer NOT NULL, word text NOT NULL, image_pk integer NOT NULL,"
        " weight integer NOT NULL, facets bytea)"
    )
    op.execute(EVERY_ROW + FACET_CODES)
    op.execute(EVERY_ROW + POSTINGS.format(fts="true"))
    op.execute(
        "CREATE INDEX ix_images_fts_words_rank "
        "ON images_fts_words (org_id, word, weight DESC, image_pk) INCLUDE (facets)"
    )
    op.execute("CREATE INDEX ix_images_fts_words_image ON images_fts_words (image_pk)")
    op.execute("ANALYZE images_fts_words")
    op.execute("ANALYZE facet_values")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TABLE images_fts_words")
    op.execute("DROP TABLE facet_values")
    op.execute("DROP FUNCTION facet_key(text, text, text)")
