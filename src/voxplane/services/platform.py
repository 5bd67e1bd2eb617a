"""The control plane assembled from settings: database, keys, limits and every service.

Built once by an entry point (``voxplane serve``, ``voxplane admin …``) and closed on exit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from voxplane.security.secretbox import Keyring, load_keyring
from voxplane.security.tokens import TokenSigner
from voxplane.services.agents import AgentService
from voxplane.services.audit import AuditService
from voxplane.services.auth import AuthService
from voxplane.services.calls import CallService
from voxplane.services.credentials import CredentialService
from voxplane.services.keys import ApiKeyService
from voxplane.services.members import MemberService
from voxplane.services.numbers import PhoneNumberService
from voxplane.services.tenants import TenantDefaults, TenantService
from voxplane.services.usage import UsageService
from voxplane.sessions import Backends, open_backends
from voxplane.settings import Settings
from voxplane.store import migrate
from voxplane.store.db import Database


@dataclass(frozen=True)
class Platform:
    """Every control-plane service, sharing one database and one set of backends."""

    settings: Settings
    db: Database
    backends: Backends
    keyring: Keyring
    auth: AuthService
    tenants: TenantService
    members: MemberService
    keys: ApiKeyService
    agents: AgentService
    numbers: PhoneNumberService
    credentials: CredentialService
    calls: CallService
    usage: UsageService
    audit: AuditService

    async def check_ready(self) -> None:
        """Raise :class:`~voxplane.errors.UnavailableError` unless every backend answers."""
        await self.db.ping()
        await self.backends.ping()


@asynccontextmanager
async def open_platform(
    settings: Settings, *, migrate_now: bool | None = None
) -> AsyncIterator[Platform]:
    """Open the database and backends (migrating first in embedded mode), then close them."""
    db = Database(settings.database, pool_size=settings.database_pool_size)
    try:
        if settings.migrate_at_start if migrate_now is None else migrate_now:
            await migrate.upgrade(db)
        development = settings.environment == "development"
        env_keys = settings.secret_keys.get_secret_value() if settings.secret_keys else None
        keyring = load_keyring(key_file=settings.key_file, env_value=env_keys, create=development)
        signer = TokenSigner(settings.token_secret_bytes(), ttl_s=settings.access_token_ttl_s)
        backends = await open_backends(settings.redis_url)
    except BaseException:
        await db.aclose()
        raise
    try:
        yield build_platform(settings, db, backends, keyring, signer)
    finally:
        await backends.aclose()
        await db.aclose()


def build_platform(
    settings: Settings, db: Database, backends: Backends, keyring: Keyring, signer: TokenSigner
) -> Platform:
    auth = AuthService(
        db,
        signer,
        refresh_ttl_s=settings.refresh_token_ttl_s,
        access_ttl_s=settings.access_token_ttl_s,
    )
    defaults = TenantDefaults(
        rate_per_minute=settings.default_rate_per_minute,
        rate_burst=settings.default_rate_burst,
        max_concurrent_calls=settings.default_max_concurrent_calls,
    )
    return Platform(
        settings=settings,
        db=db,
        backends=backends,
        keyring=keyring,
        auth=auth,
        tenants=TenantService(db, defaults),
        members=MemberService(db, auth),
        keys=ApiKeyService(db, auth),
        agents=AgentService(db),
        numbers=PhoneNumberService(db),
        credentials=CredentialService(db, keyring),
        calls=CallService(db, backends.leases, lease_ttl_s=settings.call_lease_ttl_s),
        usage=UsageService(db),
        audit=AuditService(db),
    )
