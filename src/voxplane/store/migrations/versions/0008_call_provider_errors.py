"""calls: provider_errors, soft_barge_ins, resumed_after_backchannel

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30

Provider failures that retries did not cure, by kind (``{"stt": 1}``), and the soft
barge-in counters: how often caller speech paused the agent, and how often the agent then
went on (the words were a backchannel).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "calls",
        sa.Column(
            "provider_errors",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
    )
    op.add_column(
        "calls", sa.Column("soft_barge_ins", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column(
        "calls",
        sa.Column("resumed_after_backchannel", sa.Integer(), server_default="0", nullable=False),
    )


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("resumed_after_backchannel")
        batch.drop_column("soft_barge_ins")
        batch.drop_column("provider_errors")
