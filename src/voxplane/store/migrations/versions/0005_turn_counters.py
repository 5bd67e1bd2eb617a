"""calls: false_starts and held_turns

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

Two counters of how a call's turn-taking went, as columns (not inside the JSON of
``metrics``) so they can be summed and filtered per agent and per day.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "calls", sa.Column("false_starts", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column(
        "calls", sa.Column("held_turns", sa.Integer(), server_default="0", nullable=False)
    )


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("held_turns")
        batch.drop_column("false_starts")
