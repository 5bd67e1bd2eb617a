"""API keys: made with a role and optional narrower scopes, the secret shown once."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from voxplane.errors import ForbiddenError, InvalidError, NotFoundError
from voxplane.security.tokens import new_token, token_digest
from voxplane.services.audit import audit
from voxplane.services.auth import AuthService
from voxplane.services.principal import ALL_PERMISSIONS, ROLE_PERMISSIONS, Principal
from voxplane.services.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic, PageOf
from voxplane.store.db import Database
from voxplane.store.ids import new_id
from voxplane.store.models import ApiKey
from voxplane.store.repositories import ApiKeyRepo
from voxplane.store.types import utcnow


def stage_api_key(session: AsyncSession, who: Principal, body: ApiKeyCreate) -> tuple[ApiKey, str]:
    """Stage a new key; its permissions never exceed those of whoever makes it, and it
    acts for the same member as its maker (a key made with a key acts for that key's)."""
    granted = ROLE_PERMISSIONS[body.role]
    if body.scopes is not None:
        unknown = sorted(set(body.scopes) - ALL_PERMISSIONS)
        if unknown:
            raise InvalidError(f"unknown scope {unknown[0]!r}", field="scopes")
        granted = granted & frozenset(body.scopes)
    if not granted <= who.permissions:
        raise ForbiddenError("a key cannot have permissions its creator lacks")
    secret = new_token("vxp")
    key = ApiKey(
        id=new_id("key"),
        tenant_id=who.tenant_id,
        name=body.name,
        prefix=secret[:12],
        digest=token_digest(secret),
        role=body.role,
        scopes=sorted(granted),
        rate_per_minute=body.rate_per_minute,
        created_by=who.actor_id,
        user_id=who.user_id,
    )
    ApiKeyRepo(session).add(key)
    return key, secret


async def revoke_member_keys(session: AsyncSession, who: Principal, user_id: str) -> list[str]:
    """Stage the revocation (audited) of a removed member's keys in the caller's tenant."""
    keys = await ApiKeyRepo(session).of_member(who.tenant_id, user_id)
    for key in keys:
        key.revoked_at = utcnow()
        audit(session, who, "api_key.revoke", "api_key", key.id, reason="member removed")
    return [key.id for key in keys]


class ApiKeyService:
    def __init__(self, db: Database, auth: AuthService) -> None:
        self.db = db
        self.auth = auth

    async def create(self, who: Principal, body: ApiKeyCreate) -> ApiKeyCreated:
        who.require("keys:write")
        async with self.db.unit() as session:
            key, secret = stage_api_key(session, who, body)
            audit(session, who, "api_key.create", "api_key", key.id, name=key.name, role=key.role)
            await session.flush()
            return ApiKeyCreated.model_validate(
                {**ApiKeyPublic.model_validate(key).model_dump(), "secret": secret}
            )

    async def list(self, who: Principal, cursor: str | None, limit: int) -> PageOf[ApiKeyPublic]:
        who.require("keys:read")
        async with self.db.unit() as session:
            page = await ApiKeyRepo(session).page(who.tenant_id, cursor, limit)
            items = [ApiKeyPublic.model_validate(k) for k in page.items]
            return PageOf[ApiKeyPublic](items=items, next_cursor=page.next_cursor)

    async def get(self, who: Principal, key_id: str) -> ApiKeyPublic:
        who.require("keys:read")
        async with self.db.unit() as session:
            key = await ApiKeyRepo(session).get(who.tenant_id, key_id)
            if key is None:
                raise NotFoundError("no such API key")
            return ApiKeyPublic.model_validate(key)

    async def revoke(self, who: Principal, key_id: str) -> ApiKeyPublic:
        who.require("keys:write")
        async with self.db.unit() as session:
            key = await ApiKeyRepo(session).get(who.tenant_id, key_id)
            if key is None:
                raise NotFoundError("no such API key")
            if key.revoked_at is None:
                key.revoked_at = utcnow()
                audit(session, who, "api_key.revoke", "api_key", key.id, name=key.name)
            public = ApiKeyPublic.model_validate(key)
        self.auth.forget(key_id=key_id)
        return public
