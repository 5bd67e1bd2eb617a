"""Tenants, users, memberships, login sessions, API keys and invitations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    and_,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from voxplane.store.models import (
    ApiKey,
    Invitation,
    Membership,
    RefreshToken,
    Tenant,
    User,
)
from voxplane.store.repositories.paging import (
    Page,
    page_by_id,
)


class TenantRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, tenant_id: str) -> Tenant | None:
        return await self.session.get(Tenant, tenant_id)

    async def by_name(self, name: str) -> Tenant | None:
        return await self.session.scalar(select(Tenant).where(Tenant.name == name))

    async def page(self, cursor: str | None, limit: int) -> Page[Tenant]:
        return await page_by_id(self.session, select(Tenant), Tenant.id, cursor, limit)

    def add(self, tenant: Tenant) -> None:
        self.session.add(tenant)

    async def all_ids(self) -> list[str]:
        return list((await self.session.scalars(select(Tenant.id))).all())


class UserRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_email(self, email: str) -> User | None:
        return await self.session.scalar(select(User).where(User.email == email))

    async def get(self, user_id: str) -> User | None:
        return await self.session.get(User, user_id)

    def add(self, user: User) -> None:
        self.session.add(user)


class MembershipRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def of_user(self, user_id: str) -> Sequence[Membership]:
        query = select(Membership).where(Membership.user_id == user_id).order_by(Membership.id)
        return (await self.session.scalars(query)).all()

    async def get(self, tenant_id: str, user_id: str) -> Membership | None:
        return await self.session.scalar(
            select(Membership).where(
                Membership.tenant_id == tenant_id, Membership.user_id == user_id
            )
        )

    async def by_id(self, tenant_id: str, membership_id: str) -> Membership | None:
        return await self.session.scalar(
            select(Membership).where(
                Membership.tenant_id == tenant_id, Membership.id == membership_id
            )
        )

    async def by_email(self, tenant_id: str, email: str) -> Membership | None:
        return await self.session.scalar(
            select(Membership)
            .join(User, User.id == Membership.user_id)
            .where(Membership.tenant_id == tenant_id, User.email == email)
        )

    async def page(self, tenant_id: str, cursor: str | None, limit: int) -> Page[Membership]:
        query = select(Membership).where(Membership.tenant_id == tenant_id)
        return await page_by_id(self.session, query, Membership.id, cursor, limit)

    async def count_owners(self, tenant_id: str) -> int:
        query = select(func.count()).where(
            Membership.tenant_id == tenant_id, Membership.role == "owner"
        )
        return int(await self.session.scalar(query) or 0)

    def add(self, membership: Membership) -> None:
        self.session.add(membership)

    async def remove(self, membership: Membership) -> None:
        await self.session.delete(membership)


class RefreshTokenRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_digest(self, digest: str) -> RefreshToken | None:
        query = select(RefreshToken).where(RefreshToken.digest == digest).with_for_update()
        return await self.session.scalar(query)

    def add(self, token: RefreshToken) -> None:
        self.session.add(token)

    async def revoke_session(self, session_id: str, at: datetime) -> None:
        await self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.session_id == session_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=at)
        )

    async def revoke_user(self, user_id: str, at: datetime, tenant_id: str | None = None) -> None:
        """End every login session of a user (in one tenant, or everywhere)."""
        query = update(RefreshToken).where(
            RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None)
        )
        if tenant_id is not None:
            query = query.where(RefreshToken.tenant_id == tenant_id)
        await self.session.execute(query.values(revoked_at=at))

    async def session_revoked(self, session_id: str) -> bool:
        """A login session is over when any of its tokens was revoked (logout, reuse)."""
        query = select(func.count()).where(
            RefreshToken.session_id == session_id, RefreshToken.revoked_at.is_not(None)
        )
        return bool(await self.session.scalar(query))


@dataclass(frozen=True, slots=True)
class KeyHolder:
    """An API key, its tenant, and its member's current role (None when no longer a
    member) and state; the member fields are None for keys bound to no member."""

    key: ApiKey
    tenant: Tenant
    member_role: str | None
    member_disabled: bool | None


class ApiKeyRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_digest(self, digest: str) -> ApiKey | None:
        return await self.session.scalar(select(ApiKey).where(ApiKey.digest == digest))

    async def holder(self, digest: str) -> KeyHolder | None:
        """A key with its tenant and what its member can do now, in one query."""
        query = (
            select(ApiKey, Tenant, Membership.role, User.disabled)
            .join(Tenant, Tenant.id == ApiKey.tenant_id)
            .outerjoin(User, User.id == ApiKey.user_id)
            .outerjoin(
                Membership,
                and_(Membership.tenant_id == ApiKey.tenant_id, Membership.user_id == User.id),
            )
            .where(ApiKey.digest == digest)
        )
        row = (await self.session.execute(query)).first()
        return None if row is None else KeyHolder(*row)

    async def of_member(self, tenant_id: str, user_id: str) -> Sequence[ApiKey]:
        """A member's live keys in a tenant."""
        query = select(ApiKey).where(
            ApiKey.tenant_id == tenant_id, ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None)
        )
        return (await self.session.scalars(query)).all()

    async def get(self, tenant_id: str, key_id: str) -> ApiKey | None:
        return await self.session.scalar(
            select(ApiKey).where(ApiKey.tenant_id == tenant_id, ApiKey.id == key_id)
        )

    async def page(self, tenant_id: str, cursor: str | None, limit: int) -> Page[ApiKey]:
        query = select(ApiKey).where(ApiKey.tenant_id == tenant_id)
        return await page_by_id(self.session, query, ApiKey.id, cursor, limit)

    def add(self, key: ApiKey) -> None:
        self.session.add(key)

    async def touch(self, key_id: str, at: datetime) -> None:
        await self.session.execute(
            update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=at)
        )


class InvitationRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, tenant_id: str, invitation_id: str) -> Invitation | None:
        return await self.session.scalar(
            select(Invitation).where(
                Invitation.tenant_id == tenant_id, Invitation.id == invitation_id
            )
        )

    async def open(
        self, at: datetime, *, invitation_id: str | None = None, digest: str | None = None
    ) -> Invitation | None:
        """A pending invitation (not accepted, revoked nor expired) of any tenant, by id or
        by its token's digest, locked: only its invitee may learn it exists."""
        query = select(Invitation).where(
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > at,
        )
        if invitation_id is not None:
            query = query.where(Invitation.id == invitation_id)
        if digest is not None:
            query = query.where(Invitation.digest == digest)
        return await self.session.scalar(query.with_for_update())

    async def page(self, tenant_id: str, cursor: str | None, limit: int) -> Page[Invitation]:
        query = select(Invitation).where(Invitation.tenant_id == tenant_id)
        return await page_by_id(self.session, query, Invitation.id, cursor, limit)

    async def revoke_pending(self, tenant_id: str, email: str, at: datetime) -> None:
        """Withdraw a tenant's earlier pending invitations of ``email``."""
        await self.session.execute(
            update(Invitation)
            .where(
                Invitation.tenant_id == tenant_id,
                Invitation.email == email,
                Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None),
            )
            .values(revoked_at=at)
        )

    def add(self, invitation: Invitation) -> None:
        self.session.add(invitation)
