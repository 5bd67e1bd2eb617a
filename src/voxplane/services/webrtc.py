"""WebRTC call tokens: what lets a browser start a call with one agent.

A user or API key of the tenant asks for a token for one of its agents
(``POST /v1/webrtc/tokens``), or a web page with a publishable key (``vpk_…``: one agent,
from its allowed origins only); the page that holds it spends it once, within
``webrtc_token_ttl_s``, to offer its SDP (``POST /v1/webrtc/calls``). Only the token's
SHA-256 digest is stored; a spent, expired or unknown token is the same 401.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from voxplane.errors import AuthError, ForbiddenError, NotFoundError
from voxplane.security.tokens import looks_like, new_token, token_digest
from voxplane.services.audit import audit
from voxplane.services.principal import Principal
from voxplane.services.schemas import (
    IceServerPublic,
    PageOf,
    PublishableKeyCreate,
    PublishableKeyCreated,
    PublishableKeyPublic,
    Route,
    WebRtcTokenPublic,
)
from voxplane.store.call_tokens import CallTokenRepo
from voxplane.store.db import Database
from voxplane.store.ids import new_id
from voxplane.store.models import PublishableKey
from voxplane.store.publishable_keys import PublishableKeyRepo
from voxplane.store.repositories import AgentRepo, TenantRepo
from voxplane.store.types import utcnow

TOKEN_PREFIX = "wrt"
PUBLISHABLE_PREFIX = "vpk"
PUBLISHABLE_PERMISSIONS = frozenset({"calls:write"})


@dataclass(frozen=True, slots=True)
class PublishedCaller:
    """A page holding a publishable key: who it acts as, its agent, its tenant's rate."""

    principal: Principal
    agent_id: str
    tenant_rate: tuple[int, int]


class WebRtcService:
    def __init__(
        self,
        db: Database,
        *,
        token_ttl_s: float,
        ice_servers: Sequence[IceServerPublic] = (),
    ) -> None:
        """``ice_servers`` are handed to the pages with each call token."""
        self.db = db
        self.token_ttl_s = token_ttl_s
        self.ice_servers = list(ice_servers)

    async def issue(self, who: Principal, agent_id: str) -> WebRtcTokenPublic:
        """A single-use call token for one of the tenant's live agents."""
        who.require("calls:write")
        token = new_token(TOKEN_PREFIX)
        now = utcnow()
        expires_at = now + timedelta(seconds=self.token_ttl_s)
        async with self.db.unit() as session:
            if await AgentRepo(session).get(who.tenant_id, agent_id) is None:
                raise NotFoundError("no such agent")
            token_id = new_id("wrt")
            await CallTokenRepo(session).insert(
                {
                    "id": token_id,
                    "tenant_id": who.tenant_id,
                    "agent_id": agent_id,
                    "digest": token_digest(token),
                    "created_by": who.actor_id,
                    "expires_at": expires_at,
                }
            )
            audit(session, who, "webrtc.token", "agent", agent_id, token_id=token_id)
        return WebRtcTokenPublic(token=token, expires_at=expires_at, ice_servers=self.ice_servers)

    async def published(
        self, secret: str, origin: str | None, *, ip: str | None, request_id: str | None
    ) -> PublishedCaller:
        """The caller behind a publishable key sent from a page on ``origin``:
        :class:`AuthError` for an unknown or revoked key, :class:`ForbiddenError` for an
        origin the key does not allow (or none: only browsers use these keys)."""
        if not looks_like(secret, PUBLISHABLE_PREFIX):
            raise AuthError("not a valid publishable key")
        async with self.db.unit() as session:
            key = await PublishableKeyRepo(session).by_digest(token_digest(secret))
            if key is None or key.revoked_at is not None:
                raise AuthError("invalid or revoked publishable key")
            tenant = await TenantRepo(session).get(key.tenant_id)
        if tenant is None or tenant.status != "active":
            raise ForbiddenError("this tenant is suspended")
        if origin is None or origin.lower() not in key.allowed_origins:
            raise ForbiddenError("this publishable key is not allowed from this page's origin")
        principal = Principal(
            key.tenant_id, "publishable_key", key.id, "viewer", PUBLISHABLE_PERMISSIONS,
            ip=ip, request_id=request_id,
        )  # fmt: skip
        return PublishedCaller(principal, key.agent_id, (tenant.rate_per_minute, tenant.rate_burst))

    # --- publishable keys -----------------------------------------------------------

    async def create_key(self, who: Principal, body: PublishableKeyCreate) -> PublishableKeyCreated:
        who.require("keys:write")
        secret = new_token(PUBLISHABLE_PREFIX)
        async with self.db.unit() as session:
            if await AgentRepo(session).get(who.tenant_id, body.agent_id) is None:
                raise NotFoundError("no such agent")
            key = PublishableKey(
                id=new_id("pbk"),
                tenant_id=who.tenant_id,
                agent_id=body.agent_id,
                name=body.name,
                prefix=secret[:12],
                digest=token_digest(secret),
                allowed_origins=sorted(set(body.allowed_origins)),
                created_by=who.actor_id,
            )
            PublishableKeyRepo(session).add(key)
            audit(
                session, who, "publishable_key.create", "publishable_key", key.id,
                name=key.name, agent_id=key.agent_id, allowed_origins=key.allowed_origins,
            )  # fmt: skip
            await session.flush()
            public = PublishableKeyPublic.model_validate(key)
        return PublishableKeyCreated(**public.model_dump(), key=secret)

    async def list_keys(
        self, who: Principal, cursor: str | None, limit: int
    ) -> PageOf[PublishableKeyPublic]:
        who.require("keys:read")
        async with self.db.unit() as session:
            page = await PublishableKeyRepo(session).page(who.tenant_id, cursor, limit)
            items = [PublishableKeyPublic.model_validate(k) for k in page.items]
            return PageOf[PublishableKeyPublic](items=items, next_cursor=page.next_cursor)

    async def get_key(self, who: Principal, key_id: str) -> PublishableKeyPublic:
        who.require("keys:read")
        async with self.db.unit() as session:
            key = await PublishableKeyRepo(session).get(who.tenant_id, key_id)
            if key is None:
                raise NotFoundError("no such publishable key")
            return PublishableKeyPublic.model_validate(key)

    async def revoke_key(self, who: Principal, key_id: str) -> PublishableKeyPublic:
        who.require("keys:write")
        async with self.db.unit() as session:
            key = await PublishableKeyRepo(session).get(who.tenant_id, key_id)
            if key is None:
                raise NotFoundError("no such publishable key")
            if key.revoked_at is None:
                key.revoked_at = utcnow()
                audit(session, who, "publishable_key.revoke", "publishable_key", key.id)
            return PublishableKeyPublic.model_validate(key)

    # --- spending tokens ------------------------------------------------------------

    async def redeem(self, token: str) -> Route:
        """Spend a call token: where its call goes (the agent's current version), or
        :class:`AuthError` for an unknown, expired or already used token."""
        if not looks_like(token, TOKEN_PREFIX):
            raise AuthError("not a valid WebRTC call token")
        async with self.db.unit() as session:
            spent = await CallTokenRepo(session).spend(token_digest(token), utcnow())
            if spent is None:
                raise AuthError("the call token is unknown, expired or already used")
            tenant_id, agent_id = spent
            agent = await AgentRepo(session).get(tenant_id, agent_id)
        if agent is None:
            raise AuthError("the call token's agent is gone")
        return Route(
            tenant_id=tenant_id, number=None, agent_id=agent_id, agent_version=agent.version
        )

    async def purge_expired(self, now: datetime) -> int:
        """Forget tokens that expired over a day ago (kept that long for the audit trail)."""
        async with self.db.unit() as session:
            return await CallTokenRepo(session).purge_before(now - timedelta(days=1))
