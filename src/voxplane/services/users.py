"""Users across tenants, for the platform admin: disabling one ends everything they hold."""

from __future__ import annotations

from voxplane.errors import NotFoundError
from voxplane.services.audit import audit
from voxplane.services.auth import AuthService
from voxplane.services.principal import Principal
from voxplane.services.schemas import UserPublic, UserUpdate
from voxplane.store.db import Database
from voxplane.store.repositories import MembershipRepo, RefreshTokenRepo, UserRepo
from voxplane.store.types import utcnow


class UserService:
    def __init__(self, db: Database, auth: AuthService) -> None:
        self.db = db
        self.auth = auth

    async def update(
        self, user_id: str, body: UserUpdate, *, actor: str = "platform"
    ) -> UserPublic:
        """Disable a user (their login sessions end; their tokens and keys stop working at
        once) or enable them again (their keys work again; ended sessions stay ended).
        Audited in each tenant the user belongs to."""
        async with self.db.unit() as session:
            user = await UserRepo(session).get(user_id)
            if user is None:
                raise NotFoundError("no such user")
            if user.disabled != body.disabled:
                user.disabled = body.disabled
                if body.disabled:
                    await RefreshTokenRepo(session).revoke_user(user.id, utcnow())
                action = "user.disable" if body.disabled else "user.enable"
                for membership in await MembershipRepo(session).of_user(user.id):
                    who = Principal(membership.tenant_id, "platform", actor, "owner", frozenset())
                    audit(session, who, action, "user", user.id)
            public = UserPublic.model_validate(user)
        self.auth.forget(user_id=user_id)
        return public
