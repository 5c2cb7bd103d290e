"""What the queue needs to tell a dead worker from a failing operation.

`worker_backend` is the PostgreSQL backend pid of the claiming worker's presence
connection: when it is gone from `pg_stat_activity`, so is the worker. `crashes` counts
process deaths blamed on the operation (it was the only one running in that process),
`failures` its own unexpected errors, and `isolated` makes its next run the only one in
its process, so that a death then has one suspect.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("operations") as batch_op:
        batch_op.add_column(sa.Column("worker_backend", sa.Integer, nullable=True))
        batch_op.add_column(
            sa.Column("crashes", sa.Integer, nullable=False, server_default=sa.text("0"))
        )
        batch_op.add_column(
            sa.Column("failures", sa.Integer, nullable=False, server_default=sa.text("0"))
        )
        batch_op.add_column(
            sa.Column("isolated", sa.Boolean, nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("operations") as batch_op:
        for name in ("isolated", "failures", "crashes", "worker_backend"):
            batch_op.drop_column(name)
