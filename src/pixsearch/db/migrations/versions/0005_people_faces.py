"""face identities and named people: images.faces, image_faces, celebs, celeb_faces

Revision ID: 0005
Revises: 0004

`images.faces` holds the boxes shown by the API; `image_faces` one row per face of an
image analysed with identities, with its descriptor (dlib's 128-d ResNet descriptor; null
for a face too small to have one), so `models reembed` knows which images lack them.
Descriptors are searched in memory on SQLite and with pgvector's Euclidean distance on
PostgreSQL, where a typed `descriptor_vec vector(128)` column sits beside the float32
bytes (every face model here has 128 dimensions; a model of another size is a new
migration). `celebs` and `celeb_faces` are the named people, with
copies of their example descriptors. Their operations are told apart by `mode`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("images") as batch_op:
        batch_op.add_column(sa.Column("faces", sa.JSON(), nullable=True))
    op.create_table(
        "image_faces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("image_pk", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("descriptor", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["image_pk"], ["images.id"], name="fk_image_faces_image_pk_images", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_image_faces"),
    )
    op.create_index("ix_image_faces_org_model", "image_faces", ["org_id", "model"])
    op.create_index("ix_image_faces_image", "image_faces", ["image_pk", "n"])
    op.create_table(
        "celebs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("name_norm", sa.String(200), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name="fk_celebs_org_id_organisations"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_celebs"),
        sa.UniqueConstraint("org_id", "name_norm", name="uq_celebs_org_id_name_norm"),
    )
    op.create_table(
        "celeb_faces",
        sa.Column("celeb_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("face", sa.String(300), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("descriptor", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["celeb_id"], ["celebs.id"], name="fk_celeb_faces_celeb_id_celebs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("celeb_id", "seq", name="pk_celeb_faces"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE image_faces ADD COLUMN descriptor_vec vector(128)")


def downgrade() -> None:
    op.drop_table("celeb_faces")
    op.drop_table("celebs")
    op.drop_index("ix_image_faces_image", table_name="image_faces")
    op.drop_index("ix_image_faces_org_model", table_name="image_faces")
    op.drop_table("image_faces")
    with op.batch_alter_table("images") as batch_op:
        batch_op.drop_column("faces")
