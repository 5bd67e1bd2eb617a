"""The control plane assembled from settings: database, keys, limits and every service.

Built once by an entry point (``voxplane serve``, ``voxplane admin …``) and closed on exit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from voxplane.events import EventBus, open_bus
from voxplane.events.delivery import DeliveryOptions
from voxplane.events.worker import EventWorker
from voxplane.security.secretbox import Keyring, load_keyring
from voxplane.security.tokens import TokenSigner
from voxplane.services.agents import AgentService
from voxplane.services.analytics import AnalyticsService
from voxplane.services.audit import AuditService
from voxplane.services.auth import AuthService
from voxplane.services.calls import CallService
from voxplane.services.credentials import CredentialService
from voxplane.services.invitations import InvitationService
from voxplane.services.keys import ApiKeyService
from voxplane.services.members import MemberService
from voxplane.services.numbers import PhoneNumberService
from voxplane.services.outbound import OutboundCallService
from voxplane.services.schemas import IceServerPublic
from voxplane.services.tenants import TenantDefaults, TenantService
from voxplane.services.trunks import SipTrunkService
from voxplane.services.usage import UsageService
from voxplane.services.users import UserService
from voxplane.services.webhooks import WebhookService
from voxplane.services.webrtc import WebRtcService
from voxplane.sessions import Backends, open_backends
from voxplane.settings import Settings
from voxplane.store import migrate
from voxplane.store.db import Database
from voxplane.store.recordings import LocalRecordingStore, RecordingStore

log = logging.getLogger("voxplane.events")


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
    invitations: InvitationService
    users: UserService
    keys: ApiKeyService
    agents: AgentService
    numbers: PhoneNumberService
    trunks: SipTrunkService
    outbound: OutboundCallService
    credentials: CredentialService
    calls: CallService
    webrtc: WebRtcService
    recordings: RecordingStore
    usage: UsageService
    analytics: AnalyticsService
    audit: AuditService
    bus: EventBus
    webhooks: WebhookService

    async def check_ready(self) -> None:
        """Raise :class:`~voxplane.errors.UnavailableError` unless every backend answers."""
        await self.db.ping()
        await self.backends.ping()
        await self.bus.ping()


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
    bus = open_bus(settings.amqp_url)
    platform = build_platform(settings, db, backends, keyring, signer, bus=bus)
    worker = None
    if settings.events_worker:
        events = EventWorker(db, bus, keyring, delivery_options(settings))
        worker = (events, asyncio.create_task(events.run()))  # owned: stopped below
    try:
        yield platform
    finally:
        if worker is not None:
            await _stop(*worker, grace_s=settings.webhook_timeout_s + 1.0)
        await bus.aclose()
        await backends.aclose()
        await db.aclose()


async def _stop(events: EventWorker, worker: asyncio.Task[None], *, grace_s: float) -> None:
    """Stop the worker between units of work (see :mod:`voxplane.events.stop`); cancel it
    only if it overstays, e.g. a webhook receiver slower than its timeout allows."""
    events.stop()
    try:
        await asyncio.wait_for(worker, grace_s)
    except TimeoutError:
        log.warning("the events worker overstayed its stop; cancelled", extra={"grace_s": grace_s})


def delivery_options(settings: Settings) -> DeliveryOptions:
    return DeliveryOptions(
        allow_private=settings.webhook_allow_private_networks,
        timeout_s=settings.webhook_timeout_s,
        retry_window=timedelta(seconds=settings.webhook_retry_window_s),
        backoff_base_s=settings.webhook_retry_base_s,
        concurrency=settings.webhook_concurrency,
    )


def build_platform(
    settings: Settings,
    db: Database,
    backends: Backends,
    keyring: Keyring,
    signer: TokenSigner,
    *,
    bus: EventBus,
) -> Platform:
    auth = AuthService(
        db,
        signer,
        refresh_ttl_s=settings.refresh_token_ttl_s,
        access_ttl_s=settings.access_token_ttl_s,
    )
    recordings = LocalRecordingStore(settings.recordings_dir)
    defaults = TenantDefaults(
        rate_per_minute=settings.default_rate_per_minute,
        rate_burst=settings.default_rate_burst,
        max_concurrent_calls=settings.default_max_concurrent_calls,
    )
    trunks = SipTrunkService(db, keyring)
    return Platform(
        settings=settings,
        db=db,
        backends=backends,
        keyring=keyring,
        auth=auth,
        tenants=TenantService(db, defaults),
        members=MemberService(db, auth),
        invitations=InvitationService(db, auth),
        users=UserService(db, auth),
        keys=ApiKeyService(db, auth),
        agents=AgentService(db, allow_private=settings.webhook_allow_private_networks),
        numbers=PhoneNumberService(db),
        trunks=trunks,
        outbound=OutboundCallService(db, trunks),
        credentials=CredentialService(db, keyring),
        calls=CallService(
            db, backends.leases, lease_ttl_s=settings.call_lease_ttl_s, recordings=recordings
        ),
        webrtc=WebRtcService(
            db,
            token_ttl_s=settings.webrtc_token_ttl_s,
            ice_servers=[
                IceServerPublic(
                    urls=list(s.urls),
                    username=s.username,
                    credential=s.credential.get_secret_value() if s.credential else None,
                )
                for s in settings.webrtc_ice_servers
            ],
        ),
        recordings=recordings,
        usage=UsageService(db),
        analytics=AnalyticsService(db),
        audit=AuditService(db, export_delay_s=settings.audit_export_delay_s),
        bus=bus,
        webhooks=WebhookService(db, keyring, allow_private=settings.webhook_allow_private_networks),
    )
