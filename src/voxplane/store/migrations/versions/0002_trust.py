"""trust: invitations, API keys bound to the member they act for

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import voxplane.store.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "invitations",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("invited_by", sa.String(length=40), nullable=True),
        sa.Column("created_at", voxplane.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", voxplane.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", voxplane.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("accepted_by", sa.String(length=40), nullable=True),
        sa.Column("revoked_at", voxplane.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_invitations_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("digest", name=op.f("uq_invitations_digest")),
    )
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.create_index("ix_invitations_tenant", ["tenant_id", "id"], unique=False)

    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("user_id", sa.String(length=40), nullable=True))
        batch_op.create_index(batch_op.f("ix_api_keys_user_id"), ["user_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_api_keys_user_id_users"),
            "users",
            ["user_id"],
            ["id"],
            ondelete="CASCADE",
        )
    _bind_existing_keys()


def _bind_existing_keys() -> None:
    """Bind the keys made before this revision to the member they act for: a user's keys
    to that user, a key's keys to that key's member (a chain: a few passes), and the
    platform's owner key to the tenant's first member, the first owner."""
    op.execute(
        "UPDATE api_keys SET user_id = created_by WHERE created_by IN (SELECT id FROM users)"
    )
    for _ in range(4):
        op.execute(
            "UPDATE api_keys SET user_id = (SELECT maker.user_id FROM api_keys AS maker "
            "WHERE maker.id = api_keys.created_by) "
            "WHERE user_id IS NULL AND created_by LIKE 'key%'"
        )
    op.execute(
        "UPDATE api_keys SET user_id = (SELECT m.user_id FROM memberships AS m "
        "WHERE m.tenant_id = api_keys.tenant_id ORDER BY m.id LIMIT 1) "
        "WHERE user_id IS NULL AND created_by IN ('platform', 'cli')"
    )


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_api_keys_user_id_users"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_api_keys_user_id"))
        batch_op.drop_column("user_id")

    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.drop_index("ix_invitations_tenant")

    op.drop_table("invitations")
