"""PostgreSQL: full-text rows carry their organisation; indexes for folded equality and dates

Revision ID: 0008_pgfacets
Revises: 0007

Every index is PostgreSQL-only (SQLite has no hash indexes, and its search plans are its
own), so none is in `db.tables`:

- `ix_images_fold_<field>`, one per label field: hash indexes on `pixsearch_fold(field)`
  (IMMUTABLE since 0002), so that `city=paris` is an index lookup, not a scan of the
  organisation that folds every row. Hash, because a folded label may be longer than a
  B-tree entry can be, and only equality is asked of it; NULLs are not indexed.
- `ix_images_org_date` (org_id, date, id) and `ix_images_org_date_desc` (org_id, date
  DESC NULLS LAST, id DESC): a `sort_by=date` page walks one in order (missing dates
  last either way, as search sorts them) and stops after `limit` hits, instead of
  sorting every hit. (The default order, newest first, walks `ix_images_org_created`
  backwards: `created_at` has no NULLs, so search asks for no NULLS LAST there.)

And `images_fts` gets its image's `org_id` (filled from `images`), so that full-text
ranking need not join the image rows to keep to one organisation.
"""

from __future__ import annotations

from alembic import op

revision = "0008_pgfacets"
down_revision = "0007"
branch_labels = None
depends_on = None

# The label fields of pixsearch.vocabulary.fields.LABEL_FIELDS, frozen with this revision.
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


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE images_fts ADD COLUMN org_id integer")
    op.execute("UPDATE images_fts f SET org_id = i.org_id FROM images i WHERE i.id = f.rowid")
    op.execute("ALTER TABLE images_fts ALTER COLUMN org_id SET NOT NULL")
    for field in LABEL_FIELDS:
        op.execute(
            f"CREATE INDEX ix_images_fold_{field} ON images USING hash (pixsearch_fold({field}))"
        )
    op.execute("CREATE INDEX ix_images_org_date ON images (org_id, date, id)")
    op.execute(
        "CREATE INDEX ix_images_org_date_desc ON images (org_id, date DESC NULLS LAST, id DESC)"
    )
    op.execute("ANALYZE images")
    op.execute("ANALYZE images_fts")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for index in ("ix_images_org_date_desc", "ix_images_org_date"):
        op.execute(f"DROP INDEX {index}")
    for field in LABEL_FIELDS:
        op.execute(f"DROP INDEX ix_images_fold_{field}")
    op.execute("ALTER TABLE images_fts DROP COLUMN org_id")
