"""Tenants: created by the platform admin (API or CLI) with their first owner and key."""

from __future__ import annotations

from dataclasses import dataclass

from voxplane.errors import ConflictError, InvalidError, NotFoundError
from voxplane.security.passwords import hash_password_off_loop
from voxplane.services.audit import audit
from voxplane.services.keys import stage_api_key
from voxplane.services.principal import Principal, system_principal
from voxplane.services.schemas import (
    ApiKeyCreate,
    PageOf,
    TenantBootstrap,
    TenantCreate,
    TenantLimits,
    TenantPublic,
    TenantUpdate,
)
from voxplane.store.db import Database
from voxplane.store.ids import new_id
from voxplane.store.models import Membership, Tenant, User
from voxplane.store.repositories import MembershipRepo, TenantRepo, UserRepo
from voxplane.store.types import utcnow


@dataclass(frozen=True, slots=True)
class TenantDefaults:
    """Limits a new tenant gets unless the admin says otherwise."""

    rate_per_minute: int = 1000
    rate_burst: int = 200
    max_concurrent_calls: int = 10
    retention_days: int = 90


class TenantService:
    def __init__(self, db: Database, defaults: TenantDefaults) -> None:
        self.db = db
        self.defaults = defaults

    async def create(self, body: TenantCreate, *, actor: str = "platform") -> TenantBootstrap:
        """A tenant, its owner and an owner API key, in one transaction.

        The owner is a new user with ``body.password``, or the existing account of
        ``body.email``, which keeps its own password: the platform admin (the operator)
        may give an account a tenant, but never learns or tests its password. A password
        sent for an existing account is refused rather than silently ignored."""
        async with self.db.unit() as session:
            if await TenantRepo(session).by_name(body.name) is not None:
                raise ConflictError(f"a tenant named {body.name!r} already exists")
            tenant = Tenant(id=new_id("ten"), name=body.name, status="active")
            self._apply_limits(tenant, body.limits, defaults=True)
            TenantRepo(session).add(tenant)
            users = UserRepo(session)
            user = await users.by_email(body.email)
            if user is None:
                if body.password is None:
                    raise InvalidError("a new owner account needs a password", field="password")
                secret = body.password.get_secret_value()
                hashed = await hash_password_off_loop(secret)
                user = User(id=new_id("usr"), email=body.email, password_hash=hashed)
                users.add(user)
            elif body.password is not None:
                raise InvalidError(
                    "that email already has an account, which keeps its own password:"
                    " leave password out to make it the owner",
                    field="password",
                )
            await session.flush()
            MembershipRepo(session).add(
                Membership(id=new_id("mem"), tenant_id=tenant.id, user_id=user.id, role="owner")
            )
            who = system_principal(tenant.id)
            # the owner key acts for the first owner: it follows their role and removal
            who = Principal(tenant.id, "platform", actor, "owner", who.permissions, user_id=user.id)
            key, secret = stage_api_key(session, who, ApiKeyCreate(name="bootstrap", role="owner"))
            audit(
                session, who, "tenant.create", "tenant", tenant.id, name=tenant.name, owner=user.id
            )
            audit(session, who, "api_key.create", "api_key", key.id, name=key.name)
            return TenantBootstrap(tenant_id=tenant.id, user_id=user.id, api_key=secret)

    async def get(self, tenant_id: str) -> TenantPublic:
        async with self.db.unit() as session:
            tenant = await TenantRepo(session).get(tenant_id)
            if tenant is None:
                raise NotFoundError("no such tenant")
            return TenantPublic.model_validate(tenant)

    async def list(self, cursor: str | None, limit: int) -> PageOf[TenantPublic]:
        async with self.db.unit() as session:
            page = await TenantRepo(session).page(cursor, limit)
            items = [TenantPublic.model_validate(t) for t in page.items]
            return PageOf[TenantPublic](items=items, next_cursor=page.next_cursor)

    async def update(
        self, tenant_id: str, body: TenantUpdate, *, actor: str = "platform"
    ) -> TenantPublic:
        async with self.db.unit() as session:
            tenant = await TenantRepo(session).get(tenant_id)
            if tenant is None:
                raise NotFoundError("no such tenant")
            if body.status is not None:
                tenant.status = body.status
            self._apply_limits(tenant, body.limits, defaults=False)
            tenant.updated_at = utcnow()
            who = Principal(tenant.id, "platform", actor, "owner", frozenset())
            changed = body.model_dump(exclude_none=True, exclude_defaults=True)
            audit(
                session, who, "tenant.update", "tenant", tenant.id, changed=sorted(_flat(changed))
            )
            return TenantPublic.model_validate(tenant)

    def _apply_limits(self, tenant: Tenant, limits: TenantLimits, *, defaults: bool) -> None:
        given = limits.model_dump(exclude_none=True)
        if defaults:
            tenant.rate_per_minute = self.defaults.rate_per_minute
            tenant.rate_burst = self.defaults.rate_burst
            tenant.max_concurrent_calls = self.defaults.max_concurrent_calls
            tenant.retention_days = self.defaults.retention_days
            tenant.monthly_call_minutes = None
            tenant.pii_policy = "redact"
        for name, value in given.items():
            setattr(tenant, name, value)


def _flat(changed: dict[str, object]) -> list[str]:
    names: list[str] = []
    for name, value in changed.items():
        names.extend(f"{name}.{k}" for k in value) if isinstance(value, dict) else names.append(
            name
        )
    return names
