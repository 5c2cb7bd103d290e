"""initial schema

Revision ID: 0001
Revises: none
Create Date: 2026-11-22 07:46:49.119803
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisations")),
        sa.UniqueConstraint("name", name=op.f("uq_organisations_name")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_api_keys_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    op.create_table(
        "images",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.String(length=256), nullable=False),
        sa.Column("src", sa.String(length=2048), nullable=True),
        sa.Column("url_img_watermark", sa.String(length=2048), nullable=True),
        sa.Column("url_img_thumbnail", sa.String(length=2048), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("headline", sa.Text(), nullable=True),
        sa.Column("caption", sa.Text(), nullable=True),
        sa.Column("alt_text", sa.Text(), nullable=True),
        sa.Column("ai_generated", sa.Boolean(), nullable=True),
        sa.Column("model_release", sa.Boolean(), nullable=True),
        sa.Column("property_release", sa.Boolean(), nullable=True),
        sa.Column("nsfw", sa.Boolean(), nullable=True),
        sa.Column("status", sa.Text(), nullable=True),
        sa.Column("location", sa.Text(), nullable=True),
        sa.Column("city", sa.Text(), nullable=True),
        sa.Column("country", sa.Text(), nullable=True),
        sa.Column("event", sa.Text(), nullable=True),
        sa.Column("author", sa.Text(), nullable=True),
        sa.Column("provider", sa.Text(), nullable=True),
        sa.Column("shot", sa.Text(), nullable=True),
        sa.Column("scene", sa.Text(), nullable=True),
        sa.Column("technique", sa.Text(), nullable=True),
        sa.Column("medium", sa.Text(), nullable=True),
        sa.Column("date", sa.String(length=10), nullable=True),
        sa.Column("keywords", sa.JSON(), nullable=True),
        sa.Column("categories", sa.JSON(), nullable=True),
        sa.Column("collections", sa.JSON(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("aspect_ratio", sa.Float(), nullable=True),
        sa.Column("orientation", sa.String(length=10), nullable=True),
        sa.Column("n_faces", sa.Integer(), nullable=True),
        sa.Column("phash", sa.BigInteger(), nullable=True),
        sa.Column("content_type", sa.String(length=100), nullable=True),
        sa.Column("byte_size", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_images_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_images")),
        sa.UniqueConstraint("org_id", "image_id", name=op.f("uq_images_org_id_image_id")),
    )
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.create_index("ix_images_org_created", ["org_id", "created_at"], unique=False)
        batch_op.create_index("ix_images_org_sha256", ["org_id", "sha256"], unique=False)

    op.create_table(
        "operations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("do_wait", sa.Boolean(), nullable=False),
        sa.Column("do_urgent", sa.Boolean(), nullable=False),
        sa.Column("do_strict", sa.Boolean(), nullable=False),
        sa.Column("do_subset", sa.Boolean(), nullable=False),
        sa.Column("lang", sa.String(length=4), nullable=False),
        sa.Column("num_total", sa.Integer(), nullable=False),
        sa.Column("num_good", sa.Integer(), nullable=False),
        sa.Column("num_bad", sa.Integer(), nullable=False),
        sa.Column("all_good", sa.Boolean(), nullable=True),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=100), nullable=True),
        sa.Column("heartbeat_at", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=True),
        sa.Column("finished_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_operations_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operations")),
    )
    with op.batch_alter_table("operations", schema=None) as batch_op:
        batch_op.create_index("ix_operations_org_id", ["org_id", "id"], unique=False)
        batch_op.create_index("ix_operations_queue", ["state", "do_urgent", "id"], unique=False)

    op.create_table(
        "embeddings",
        sa.Column("image_pk", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_pk"],
            ["images.id"],
            name=op.f("fk_embeddings_image_pk_images"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("image_pk", "kind", name=op.f("pk_embeddings")),
    )
    with op.batch_alter_table("embeddings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_embeddings_org_kind_model", ["org_id", "kind", "model"], unique=False
        )

    op.create_table(
        "image_terms",
        sa.Column("image_pk", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("value_norm", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_pk"],
            ["images.id"],
            name=op.f("fk_image_terms_image_pk_images"),
            ondelete="CASCADE",
        ),
    )
    with op.batch_alter_table("image_terms", schema=None) as batch_op:
        batch_op.create_index("ix_image_terms_image", ["image_pk"], unique=False)
        batch_op.create_index(
            "ix_image_terms_lookup", ["org_id", "field", "value_norm"], unique=False
        )

    op.create_table(
        "operation_items",
        sa.Column("op_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.String(length=256), nullable=False),
        sa.Column("raw_id", sa.JSON(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["op_id"],
            ["operations.id"],
            name=op.f("fk_operation_items_op_id_operations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("op_id", "seq", name=op.f("pk_operation_items")),
    )

    if op.get_bind().dialect.name == "sqlite":
        # Full text over the textual fields; rowid is images.id. unicode61 with
        # remove_diacritics folds case and accents, as the `=` filter does.
        op.execute(
            "CREATE VIRTUAL TABLE images_fts USING fts5("
            "title, headline, caption, alt_text, keywords, labels, "
            "tokenize = 'unicode61 remove_diacritics 2')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE images_fts")
    op.drop_table("operation_items")
    with op.batch_alter_table("image_terms", schema=None) as batch_op:
        batch_op.drop_index("ix_image_terms_lookup")
        batch_op.drop_index("ix_image_terms_image")

    op.drop_table("image_terms")
    with op.batch_alter_table("embeddings", schema=None) as batch_op:
        batch_op.drop_index("ix_embeddings_org_kind_model")

    op.drop_table("embeddings")
    with op.batch_alter_table("operations", schema=None) as batch_op:
        batch_op.drop_index("ix_operations_queue")
        batch_op.drop_index("ix_operations_org_id")

    op.drop_table("operations")
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.drop_index("ix_images_org_sha256")
        batch_op.drop_index("ix_images_org_created")

    op.drop_table("images")
    op.drop_table("api_keys")
    op.drop_table("organisations")
