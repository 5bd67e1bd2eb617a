"""calls: trace_id and the post-call analysis

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30

``trace_id`` links a call record to its OpenTelemetry trace (the call's span and its
turns'). ``analysis`` holds what was worked out after the call: the structured fields the
agent asked for, whether the call met its success criteria, and a summary; ``outcome``
(``success``, ``failure`` or ``unknown``) is a column so analytics can count by it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("calls", sa.Column("trace_id", sa.String(length=32), nullable=True))
    json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    op.add_column("calls", sa.Column("analysis", json, nullable=True))
    op.add_column(
        "calls",
        sa.Column("outcome", sa.String(length=16), server_default="unknown", nullable=False),
    )


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("outcome")
        batch.drop_column("analysis")
        batch.drop_column("trace_id")
