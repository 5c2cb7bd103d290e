"""Generated representations: tags, OCR text and dominant colours.

`images` gains `tags` (the generated keywords, JSON), `tag_text` (what full-text search
indexes for them: their words, plurals and synonyms), `ocr_text` and `colors` (JSON). Tags
also go to `image_terms` (field `tags`), like keywords. `image_colors` holds each dominant
colour in OKLab with its share and family, so `color~` and `color=` are plain SQL.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("images") as batch_op:
        batch_op.add_column(sa.Column("tags", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("tag_text", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("ocr_text", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("colors", sa.JSON(), nullable=True))
    op.create_table(
        "image_colors",
        sa.Column("image_pk", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("l", sa.Float(), nullable=False),
        sa.Column("a", sa.Float(), nullable=False),
        sa.Column("b", sa.Float(), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("family", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_pk"],
            ["images.id"],
            name=op.f("fk_image_colors_image_pk_images"),
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_image_colors_image", "image_colors", ["image_pk"], unique=False)
    op.create_index("ix_image_colors_org_family", "image_colors", ["org_id", "family", "image_pk"])


def downgrade() -> None:
    op.drop_index("ix_image_colors_org_family", table_name="image_colors")
    op.drop_index("ix_image_colors_image", table_name="image_colors")
    op.drop_table("image_colors")
    with op.batch_alter_table("images") as batch_op:
        for name in ("colors", "ocr_text", "tag_text", "tags"):
            batch_op.drop_column(name)
