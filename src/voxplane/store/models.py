"""The tables. Every row but users' belongs to a tenant and carries ``tenant_id``.

Changing a table means a new Alembic revision in ``store/migrations/versions``; the test
suite checks that the models and the migrated schema agree.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from voxplane.store.types import Json, UtcDateTime, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = String(40)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    rate_per_minute: Mapped[int] = mapped_column(Integer)
    rate_burst: Mapped[int] = mapped_column(Integer)
    max_concurrent_calls: Mapped[int] = mapped_column(Integer)
    monthly_call_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    retention_days: Mapped[int] = mapped_column(Integer, default=90)
    pii_policy: Mapped[str] = mapped_column(String(16), default="redact")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class RefreshToken(Base):
    """One use each: refreshing spends it and issues the next of the same session."""

    __tablename__ = "refresh_tokens"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    session_id: Mapped[str] = mapped_column(String(40), index=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_tenant", "tenant_id", "id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    """The first characters of the secret, shown so a user can tell keys apart."""
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[list[str]] = mapped_column(Json)
    rate_per_minute: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """This key's own request rate, below the tenant's; the tenant's when unset."""
    created_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True
    )
    """The member the key acts for: it never has more rights than their current role, and
    removing them revokes it. None only for keys made before revision 0002 by the platform."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class Invitation(Base):
    """An offer to join a tenant with a role, accepted by whoever holds the email's account
    (signed in) or, for a new account, with the single-use link token (stored hashed)."""

    __tablename__ = "invitations"
    __table_args__ = (Index("ix_invitations_tenant", "tenant_id", "id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(254))
    role: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    accepted_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class Agent(Base):
    __tablename__ = "agents"
    __table_args__ = (Index("ix_agents_tenant", "tenant_id", "id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    """The current version: the one new calls run."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class AgentVersion(Base):
    """Immutable: an update adds a row, so a call can always show what it ran."""

    __tablename__ = "agent_versions"
    __table_args__ = (UniqueConstraint("agent_id", "version"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, Any]] = mapped_column(Json)
    created_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class PhoneNumber(Base):
    __tablename__ = "phone_numbers"
    __table_args__ = (Index("ix_phone_numbers_tenant", "tenant_id", "id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(20), unique=True)
    """E.164; unique on the platform, so an inbound call routes to exactly one agent."""
    agent_id: Mapped[str | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL"), nullable=True
    )
    label: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Credential(Base):
    """A tenant's provider secret, sealed with AES-GCM under the key named by ``key_id``."""

    __tablename__ = "credentials"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    provider: Mapped[str] = mapped_column(String(32))
    key_id: Mapped[str] = mapped_column(String(32))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    masked: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class SipTrunk(Base):
    """A tenant's SIP trunk: who may send it calls, and how calls go out through it.

    Both digest passwords sit in one AES-GCM blob (``sealed``, a JSON object) under the key
    named by ``key_id``; usernames and addresses are plain.
    """

    __tablename__ = "sip_trunks"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        Index("ix_sip_trunks_tenant", "tenant_id", "id"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    inbound_addresses: Mapped[list[str]] = mapped_column(Json)
    """Networks (CIDR) whose INVITEs this trunk accepts, normalised (``10.0.0.0/8``)."""
    inbound_username: Mapped[str | None] = mapped_column(String(100), nullable=True)
    outbound_address: Mapped[str | None] = mapped_column(String(260), nullable=True)
    outbound_transport: Mapped[str] = mapped_column(String(8), default="udp")
    outbound_username: Mapped[str | None] = mapped_column(String(100), nullable=True)
    registrar: Mapped[str | None] = mapped_column(String(260), nullable=True)
    key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Call(Base):
    """A call detail record with its transcript and per-turn latency."""

    __tablename__ = "calls"
    __table_args__ = (
        Index("ix_calls_tenant_started", "tenant_id", "started_at", "id"),
        Index("ix_calls_tenant_agent", "tenant_id", "agent_id"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    agent_version: Mapped[int] = mapped_column(Integer)
    direction: Mapped[str] = mapped_column(String(16))
    transport: Mapped[str] = mapped_column(String(16))
    from_number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    to_number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    transport_call_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    ended_at: Mapped[datetime] = mapped_column(UtcDateTime)
    duration_s: Mapped[float] = mapped_column(Float)
    end_reason: Mapped[str] = mapped_column(String(32))
    audio_s: Mapped[float] = mapped_column(Float, default=0.0)
    stt_s: Mapped[float] = mapped_column(Float, default=0.0)
    tts_chars: Mapped[int] = mapped_column(Integer, default=0)
    llm_tokens: Mapped[int] = mapped_column(Integer, default=0)
    false_starts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Agent answers that began in a caller's pause and were cut when they went on."""
    held_turns: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Caller turns held as incomplete until the caller went on or stayed quiet."""
    provider_errors: Mapped[dict[str, int]] = mapped_column(
        Json, default=dict, server_default=text("'{}'")
    )
    """Provider failures retries did not cure, by kind (``stt``, ``brain``, ``tts``)."""
    soft_barge_ins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Times caller speech over the agent paused (or lowered) it."""
    resumed_after_backchannel: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Of those, the times the agent went on (the words were a backchannel, or nothing)."""
    turns: Mapped[list[dict[str, Any]]] = mapped_column(Json)
    metrics: Mapped[list[dict[str, Any]]] = mapped_column(Json)
    trace_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    """The call's OpenTelemetry trace (32 hex digits), when tracing is on."""
    analysis: Mapped[dict[str, Any] | None] = mapped_column(Json, nullable=True)
    """The post-call analysis: structured fields, success, summary."""
    outcome: Mapped[str] = mapped_column(String(16), default="unknown", server_default="unknown")
    """``success``, ``failure`` or ``unknown``, from the analysis: analytics count by it."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class WebRtcToken(Base):
    """A single-use WebRTC call token for one agent: only its digest is kept."""

    __tablename__ = "webrtc_tokens"
    __table_args__ = (Index("ix_webrtc_tokens_expires", "expires_at"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class PublishableKey(Base):
    """A key a customer's web page may hold: it only mints WebRTC call tokens for one
    agent, from the listed origins. Only its digest is kept."""

    __tablename__ = "publishable_keys"
    __table_args__ = (Index("ix_publishable_keys_tenant", "tenant_id", "id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    allowed_origins: Mapped[list[str]] = mapped_column(Json)
    created_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class UsageDay(Base):
    """Per-tenant totals for one UTC day, added to as calls are recorded."""

    __tablename__ = "usage_days"

    tenant_id: Mapped[str] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    calls: Mapped[int] = mapped_column(Integer, default=0)
    call_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    audio_s: Mapped[float] = mapped_column(Float, default=0.0)
    stt_s: Mapped[float] = mapped_column(Float, default=0.0)
    tts_chars: Mapped[int] = mapped_column(BigInteger, default=0)
    llm_tokens: Mapped[int] = mapped_column(BigInteger, default=0)


class AuditEvent(Base):
    """Append-only: who did what to which object, when and from where."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_tenant", "tenant_id", "id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(Json)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class OutboxEvent(Base):
    """An event staged in the same transaction as the change it announces; the relay
    publishes it and stamps ``published_at`` (at least once: a crash in between repeats it,
    and consumers drop the repeat by ``id``)."""

    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_pending", "published_at", "id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(40))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class WebhookEndpoint(Base):
    """A tenant's receiver of events: its URL, the event types it wants, its signing
    secrets (sealed; the previous one still signs until ``previous_expires_at``)."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_tenant", "tenant_id", "id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[list[str]] = mapped_column(Json)
    description: Mapped[str | None] = mapped_column(String(200), nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    key_id: Mapped[str] = mapped_column(String(32))
    sealed_secret: Mapped[bytes] = mapped_column(LargeBinary)
    previous_key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    previous_sealed_secret: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    previous_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class WebhookDelivery(Base):
    """One event for one endpoint: retried until delivered or dead, every attempt logged
    in ``attempts``. Unique per (endpoint, event): a repeated event makes no second one."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_tenant", "tenant_id", "endpoint_id", "id"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(40))
    event_type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    """``pending`` (due at ``next_attempt_at``), ``delivered`` or ``dead``."""
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    first_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    """When the retry window started (creation, or the last replay)."""
    attempts: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
