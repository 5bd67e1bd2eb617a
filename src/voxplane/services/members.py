"""Members of a tenant and their roles (they join by invitation: see ``invitations``).

Removing a member ends their login sessions in the tenant and revokes the API keys that
act for them, each revocation audited.
"""

from __future__ import annotations

from voxplane.errors import ConflictError, ForbiddenError, NotFoundError
from voxplane.services.audit import audit
from voxplane.services.auth import AuthService
from voxplane.services.keys import revoke_member_keys
from voxplane.services.principal import ROLE_PERMISSIONS, Principal
from voxplane.services.schemas import MemberPublic, MemberUpdate, PageOf
from voxplane.store.db import Database
from voxplane.store.models import Membership, User
from voxplane.store.repositories import MembershipRepo, RefreshTokenRepo, UserRepo
from voxplane.store.types import utcnow


class MemberService:
    def __init__(self, db: Database, auth: AuthService) -> None:
        self.db = db
        self.auth = auth

    async def list(self, who: Principal, cursor: str | None, limit: int) -> PageOf[MemberPublic]:
        who.require("members:read")
        async with self.db.unit() as session:
            page = await MembershipRepo(session).page(who.tenant_id, cursor, limit)
            users = UserRepo(session)
            items = []
            for membership in page.items:
                user = await users.get(membership.user_id)
                assert user is not None
                items.append(member_public(membership, user))
            return PageOf[MemberPublic](items=items, next_cursor=page.next_cursor)

    async def update(self, who: Principal, member_id: str, body: MemberUpdate) -> MemberPublic:
        who.require("members:write")
        check_grant(who, body.role)
        async with self.db.unit() as session:
            memberships = MembershipRepo(session)
            membership = await memberships.by_id(who.tenant_id, member_id)
            if membership is None:
                raise NotFoundError("no such member")
            check_grant(who, membership.role)  # an admin cannot demote an owner
            if membership.role == "owner" and body.role != "owner":
                await _keep_an_owner(memberships, who.tenant_id)
            membership.role = body.role
            audit(session, who, "member.update", "member", membership.id, role=body.role)
            user = await UserRepo(session).get(membership.user_id)
            assert user is not None
            public = member_public(membership, user)
        self.auth.forget_tenant(who.tenant_id)
        return public

    async def remove(self, who: Principal, member_id: str) -> None:
        who.require("members:write")
        async with self.db.unit() as session:
            memberships = MembershipRepo(session)
            membership = await memberships.by_id(who.tenant_id, member_id)
            if membership is None:
                raise NotFoundError("no such member")
            check_grant(who, membership.role)
            if membership.role == "owner":
                await _keep_an_owner(memberships, who.tenant_id)
            await memberships.remove(membership)
            audit(session, who, "member.remove", "member", membership.id)
            await revoke_member_keys(session, who, membership.user_id)
            await RefreshTokenRepo(session).revoke_user(
                membership.user_id, utcnow(), tenant_id=who.tenant_id
            )
        self.auth.forget_tenant(who.tenant_id)


def check_grant(who: Principal, role: str) -> None:
    """Nobody gives, changes or takes a role with more rights than their own."""
    if not ROLE_PERMISSIONS[role] <= who.permissions:  # type: ignore[index]
        raise ForbiddenError(f"only a member with at least {role!r} rights can do that")


async def _keep_an_owner(memberships: MembershipRepo, tenant_id: str) -> None:
    if await memberships.count_owners(tenant_id) <= 1:
        raise ConflictError("a tenant must keep at least one owner")


def member_public(membership: Membership, user: User) -> MemberPublic:
    return MemberPublic(
        id=membership.id,
        user_id=user.id,
        email=user.email,
        role=membership.role,
        created_at=membership.created_at,
    )
