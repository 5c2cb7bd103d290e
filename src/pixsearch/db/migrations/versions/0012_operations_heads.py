"""The queue's index by organisation: each organisation's next operation in one descent.

A claim ranked every queued operation to find each organisation's first (a window over
`ix_operations_queue`: state, urgency, id), so its time grew with the backlog: 60-90 ms
a claim at 50,000 queued on SQLite, with the write lock held. `ix_operations_heads` (state,
organisation, urgency descending, id) gives the organisations that have operations queued
by a loose index scan and each one's head by one more descent (store._candidates). It
serves every lookup by state that the old index did, so it replaces it.

Revision ID: 0012_operations_heads
Revises: 0011_pgvector2
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_operations_heads"
down_revision = "0011_pgvector2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_operations_heads",
        "operations",
        ["state", "org_id", sa.text("do_urgent DESC"), "id"],
    )
    op.drop_index("ix_operations_queue", table_name="operations")


def downgrade() -> None:
    op.create_index("ix_operations_queue", "operations", ["state", "do_urgent", "id"])
    op.drop_index("ix_operations_heads", table_name="operations")
