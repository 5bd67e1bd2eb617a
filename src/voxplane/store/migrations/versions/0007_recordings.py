"""WebRTC call tokens (single use, stored hashed); call recordings live in the data dir

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import voxplane.store.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webrtc_tokens",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("agent_id", sa.String(length=40), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=True),
        sa.Column("expires_at", voxplane.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("used_at", voxplane.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_webrtc_tokens_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_webrtc_tokens_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webrtc_tokens")),
        sa.UniqueConstraint("digest", name=op.f("uq_webrtc_tokens_digest")),
    )
    op.create_index("ix_webrtc_tokens_expires", "webrtc_tokens", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_webrtc_tokens_expires", table_name="webrtc_tokens")
    op.drop_table("webrtc_tokens")
