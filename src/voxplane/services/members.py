"""Users of a tenant and their roles."""

from __future__ import annotations

from voxplane.errors import ConflictError, ForbiddenError, InvalidError, NotFoundError
from voxplane.security.passwords import hash_password, verify_password
from voxplane.services.audit import audit
from voxplane.services.auth import AuthService
from voxplane.services.principal import ROLE_PERMISSIONS, Principal
from voxplane.services.schemas import MemberCreate, MemberPublic, MemberUpdate, PageOf
from voxplane.store.db import Database
from voxplane.store.ids import new_id
from voxplane.store.models import Membership, User
from voxplane.store.repositories import MembershipRepo, UserRepo


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
                items.append(_public(membership, user))
            return PageOf[MemberPublic](items=items, next_cursor=page.next_cursor)

    async def add(self, who: Principal, body: MemberCreate) -> MemberPublic:
        who.require("members:write")
        _check_grant(who, body.role)
        async with self.db.unit() as session:
            users = UserRepo(session)
            user = await users.by_email(body.email)
            existing = user is not None
            if user is None:
                if body.password is None:
                    raise InvalidError("a new user needs a password", field="password")
                user = User(
                    id=new_id("usr"),
                    email=body.email,
                    password_hash=hash_password(body.password.get_secret_value()),
                )
                users.add(user)
                await session.flush()
            memberships = MembershipRepo(session)
            if await memberships.get(who.tenant_id, user.id) is not None:
                raise ConflictError("that user is already a member")
            password = body.password.get_secret_value() if body.password else ""
            if existing and not verify_password(user.password_hash, password):
                # Joining takes the user's consent: else any tenant could enrol anyone, learn
                # their user id and make their password login ask which tenant to enter.
                raise InvalidError("that email has an account: give its password", field="password")
            membership = Membership(
                id=new_id("mem"), tenant_id=who.tenant_id, user_id=user.id, role=body.role
            )
            memberships.add(membership)
            await session.flush()
            audit(session, who, "member.add", "member", membership.id, role=body.role)
            return _public(membership, user)

    async def update(self, who: Principal, member_id: str, body: MemberUpdate) -> MemberPublic:
        who.require("members:write")
        _check_grant(who, body.role)
        async with self.db.unit() as session:
            memberships = MembershipRepo(session)
            membership = await memberships.by_id(who.tenant_id, member_id)
            if membership is None:
                raise NotFoundError("no such member")
            _check_grant(who, membership.role)  # an admin cannot demote an owner
            if membership.role == "owner" and body.role != "owner":
                await _keep_an_owner(memberships, who.tenant_id)
            membership.role = body.role
            audit(session, who, "member.update", "member", membership.id, role=body.role)
            user = await UserRepo(session).get(membership.user_id)
            assert user is not None
            public = _public(membership, user)
        self.auth.forget_tenant(who.tenant_id)
        return public

    async def remove(self, who: Principal, member_id: str) -> None:
        who.require("members:write")
        async with self.db.unit() as session:
            memberships = MembershipRepo(session)
            membership = await memberships.by_id(who.tenant_id, member_id)
            if membership is None:
                raise NotFoundError("no such member")
            _check_grant(who, membership.role)
            if membership.role == "owner":
                await _keep_an_owner(memberships, who.tenant_id)
            await memberships.remove(membership)
            audit(session, who, "member.remove", "member", membership.id)
        self.auth.forget_tenant(who.tenant_id)


def _check_grant(who: Principal, role: str) -> None:
    if not ROLE_PERMISSIONS[role] <= who.permissions:  # type: ignore[index]
        raise ForbiddenError(f"only a member with at least {role!r} rights can do that")


async def _keep_an_owner(memberships: MembershipRepo, tenant_id: str) -> None:
    if await memberships.count_owners(tenant_id) <= 1:
        raise ConflictError("a tenant must keep at least one owner")


def _public(membership: Membership, user: User) -> MemberPublic:
    return MemberPublic(
        id=membership.id,
        user_id=user.id,
        email=user.email,
        role=membership.role,
        created_at=membership.created_at,
    )
