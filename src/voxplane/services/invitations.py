"""Invitations: how anyone joins a tenant after its first owner.

An admin invites an email with a role (``POST /v1/members``). Nothing is looked up about the
email's account, so the answer is the same whether it has one or not, and no route ever
takes another user's password. The answer carries a single-use link token (shown once,
stored as a SHA-256 digest, valid for ``INVITATION_TTL``) for the admin to pass on:

- an email without an account accepts with the token and chooses its password, which
  creates the account and signs it in;
- an email with an account accepts only as itself, by the invitation's id: signed in
  (``POST /v1/invitations/{id}/accept``) or signing in (``POST /v1/auth/login`` with
  ``invitation_id``, for an account left with no tenant). The token alone is refused for
  it, since whoever invited it holds the token too.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from voxplane.errors import AuthError, ConflictError, NotFoundError
from voxplane.security.passwords import hash_password_off_loop
from voxplane.security.tokens import looks_like, new_token, token_digest
from voxplane.services.audit import audit
from voxplane.services.auth import WRONG_PASSWORD, AuthService
from voxplane.services.members import check_grant, member_public
from voxplane.services.principal import ROLE_PERMISSIONS, Principal, Role
from voxplane.services.schemas import (
    InvitationCreated,
    InvitationPublic,
    InvitationStatus,
    MemberCreate,
    MemberPublic,
    PageOf,
    TokenPair,
)
from voxplane.store.db import Database
from voxplane.store.ids import new_id
from voxplane.store.models import Invitation, Membership, User
from voxplane.store.repositories import InvitationRepo, MembershipRepo, UserRepo
from voxplane.store.types import utcnow

INVITATION_TTL = timedelta(days=7)
_INVALID = "invalid or expired invitation"


class InvitationService:
    def __init__(self, db: Database, auth: AuthService) -> None:
        self.db = db
        self.auth = auth

    async def invite(self, who: Principal, body: MemberCreate) -> InvitationCreated:
        """Invite an email; an earlier pending invitation of it to this tenant is withdrawn."""
        who.require("members:write")
        check_grant(who, body.role)
        token = new_token("vxi")
        now = utcnow()
        async with self.db.unit() as session:
            if await MembershipRepo(session).by_email(who.tenant_id, body.email) is not None:
                raise ConflictError("that email is already a member")  # of the caller's own
            invitations = InvitationRepo(session)
            await invitations.revoke_pending(who.tenant_id, body.email, now)
            invitation = Invitation(
                id=new_id("inv"),
                tenant_id=who.tenant_id,
                email=body.email,
                role=body.role,
                digest=token_digest(token),
                invited_by=who.actor_id,
                created_at=now,
                expires_at=now + INVITATION_TTL,
            )
            invitations.add(invitation)
            audit(session, who, "invitation.create", "invitation", invitation.id, role=body.role)
            public = _public(invitation, now)
        return InvitationCreated(**public.model_dump(), token=token)

    async def list(
        self, who: Principal, cursor: str | None, limit: int
    ) -> PageOf[InvitationPublic]:
        who.require("members:read")
        now = utcnow()
        async with self.db.unit() as session:
            page = await InvitationRepo(session).page(who.tenant_id, cursor, limit)
            items = [_public(invitation, now) for invitation in page.items]
            return PageOf[InvitationPublic](items=items, next_cursor=page.next_cursor)

    async def revoke(self, who: Principal, invitation_id: str) -> None:
        who.require("members:write")
        async with self.db.unit() as session:
            invitation = await InvitationRepo(session).get(who.tenant_id, invitation_id)
            if invitation is None:
                raise NotFoundError("no such invitation")
            check_grant(who, invitation.role)
            if invitation.accepted_at is None and invitation.revoked_at is None:
                invitation.revoked_at = utcnow()
                audit(session, who, "invitation.revoke", "invitation", invitation.id)

    async def accept_signed_in(self, who: Principal, invitation_id: str) -> MemberPublic:
        """The signed-in user joins the tenant that invited their email. To anyone else
        (another user, any API key) the invitation does not exist."""
        async with self.db.unit() as session:
            user = None
            if who.actor_type == "user" and who.user_id is not None:
                user = await UserRepo(session).get(who.user_id)
            now = utcnow()
            invitation = await InvitationRepo(session).open(now, invitation_id=invitation_id)
            if user is None or invitation is None or invitation.email != user.email:
                raise NotFoundError("no such invitation")
            membership = await _join(session, invitation, user, now, who.request_id)
            return member_public(membership, user)

    async def sign_in_accepting(
        self, email: str, password: str, invitation_id: str, request_id: str | None = None
    ) -> TokenPair:
        """Sign in with one's own password by accepting an invitation of one's email: how
        an account with no tenant (left, or removed from, every one) joins again. Any
        failure reads as a wrong password, so the route tells no more than a login."""
        async with self.db.unit() as session:
            user = await self.auth.check_password(session, email, password)
            now = utcnow()
            invitation = await InvitationRepo(session).open(now, invitation_id=invitation_id)
            if invitation is None or invitation.email != user.email:
                raise AuthError(WRONG_PASSWORD)
            await _join(session, invitation, user, now, request_id)
            return self.auth.sign_in(session, user.id, invitation.tenant_id, invitation.role)

    async def accept_with_token(
        self, token: str, password: str, request_id: str | None = None
    ) -> TokenPair:
        """A new account for the invited email, joined to the tenant and signed in."""
        if not looks_like(token, "vxi"):
            raise AuthError(_INVALID)
        async with self.db.unit() as session:
            now = utcnow()
            invitation = await InvitationRepo(session).open(now, digest=token_digest(token))
            if invitation is None:
                raise AuthError(_INVALID)
            users = UserRepo(session)
            if await users.by_email(invitation.email) is not None:
                raise ConflictError(
                    "this email has an account: sign in and accept the invitation "
                    f"with POST /v1/invitations/{invitation.id}/accept"
                )
            hashed = await hash_password_off_loop(password)
            user = User(id=new_id("usr"), email=invitation.email, password_hash=hashed)
            users.add(user)
            await session.flush()
            await _join(session, invitation, user, now, request_id)
            return self.auth.sign_in(session, user.id, invitation.tenant_id, invitation.role)


async def _join(
    session: AsyncSession,
    invitation: Invitation,
    user: User,
    now: datetime,
    request_id: str | None,
) -> Membership:
    """Spend the invitation on a membership, audited as the invitee's own act."""
    memberships = MembershipRepo(session)
    if await memberships.get(invitation.tenant_id, user.id) is not None:
        raise ConflictError("you are already a member of that tenant")
    membership = Membership(
        id=new_id("mem"), tenant_id=invitation.tenant_id, user_id=user.id, role=invitation.role
    )
    memberships.add(membership)
    invitation.accepted_at = now
    invitation.accepted_by = user.id
    await session.flush()
    role: Role = invitation.role  # type: ignore[assignment]
    invitee = Principal(
        invitation.tenant_id,
        "user",
        user.id,
        role,
        ROLE_PERMISSIONS[role],
        request_id=request_id,
        user_id=user.id,
    )
    audit(
        session, invitee, "member.add", "member", membership.id,
        role=invitation.role, invitation=invitation.id,
    )  # fmt: skip
    return membership


def _status(invitation: Invitation, now: datetime) -> InvitationStatus:
    if invitation.accepted_at is not None:
        return "accepted"
    if invitation.revoked_at is not None:
        return "revoked"
    return "expired" if invitation.expires_at <= now else "pending"


def _public(invitation: Invitation, now: datetime) -> InvitationPublic:
    return InvitationPublic(
        id=invitation.id,
        email=invitation.email,
        role=invitation.role,
        status=_status(invitation, now),
        created_at=invitation.created_at,
        expires_at=invitation.expires_at,
    )
