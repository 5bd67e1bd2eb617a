"""sip trunks

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import voxplane.store.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sip_trunks",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "inbound_addresses",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("inbound_username", sa.String(length=100), nullable=True),
        sa.Column("outbound_address", sa.String(length=260), nullable=True),
        sa.Column("outbound_transport", sa.String(length=8), nullable=False),
        sa.Column("outbound_username", sa.String(length=100), nullable=True),
        sa.Column("registrar", sa.String(length=260), nullable=True),
        sa.Column("key_id", sa.String(length=32), nullable=True),
        sa.Column("sealed", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", voxplane.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", voxplane.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_sip_trunks_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sip_trunks")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_sip_trunks_tenant_id")),
    )
    with op.batch_alter_table("sip_trunks", schema=None) as batch_op:
        batch_op.create_index("ix_sip_trunks_tenant", ["tenant_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sip_trunks", schema=None) as batch_op:
        batch_op.drop_index("ix_sip_trunks_tenant")
    op.drop_table("sip_trunks")
