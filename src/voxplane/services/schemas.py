"""What goes in and out of the services: ``XCreate`` / ``XUpdate`` / ``XPublic`` models.

Inputs reject unknown fields; outputs never carry a secret (a credential's ``masked`` form
and an API key's ``prefix`` are the most that is ever shown, the key's secret once).
"""

from __future__ import annotations

import ipaddress
import math
import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    Strict,
    StringConstraints,
    field_validator,
)

from voxplane.security.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from voxplane.services.principal import Role

T = TypeVar("T")


def _trimmed(min_length: int) -> AfterValidator:
    """Surrounding white space dropped, then at least ``min_length`` characters left.

    The document's limits hold for the text as sent (a longer one is refused, not cut
    down by stripping); blank padding is then dropped."""

    def trim(value: str) -> str:
        value = value.strip()
        if len(value) < min_length:
            raise ValueError(f"needs at least {min_length} characters besides white space")
        return value

    return AfterValidator(trim)


Name = Annotated[str, StringConstraints(min_length=1, max_length=100), _trimmed(1)]
Email = Annotated[
    str,
    StringConstraints(to_lower=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
]
Password = Annotated[
    SecretStr, Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)
]
ObjectId = Annotated[str, StringConstraints(min_length=1, max_length=40)]
INT32_MAX = 2**31 - 1
"""The largest value of an INTEGER column (32 bits on PostgreSQL)."""


def unstorable(value: object) -> tuple[tuple[str | int, ...], str] | None:
    """Where in ``value`` and why the databases cannot store it, or None.

    PostgreSQL refuses NUL in text and JSON, neither database encodes a lone surrogate
    (JSON's ``"\\ud800"``), and JSON has no NaN or infinity.
    """
    if isinstance(value, dict):
        for key in value:
            problem = _unstorable_scalar(key)
            if problem is not None:  # not named: the key itself is what cannot be shown
                return (), f"{problem} (in a key)"
        items: list[tuple[str | int, object]] = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, list | tuple):
        items = list(enumerate(value))
    else:
        problem = _unstorable_scalar(value)
        return None if problem is None else ((), problem)
    for where, item in items:
        found = unstorable(item)
        if found is not None:
            return (where, *found[0]), found[1]
    return None


def _unstorable_scalar(value: object) -> str | None:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, str):
        if "\x00" in value:
            return "NUL characters are not allowed"
        try:
            value.encode()
        except UnicodeEncodeError:
            return "not valid Unicode (a lone surrogate)"
    elif isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    return None


def _to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError as error:  # 0001-01-01T00:00+01:00 is out of range in UTC
        raise ValueError("out of range") from error


def _iso_text(pattern: str, what: str) -> BeforeValidator:
    """Only text in ISO 8601 form: pydantic would also take a number ("0.5") as a time."""

    def check(value: object) -> object:
        if isinstance(value, str) and not re.match(pattern, value):
            raise ValueError(f"must be {what}")
        if isinstance(value, int | float):
            raise ValueError(f"must be {what}, not a number")
        return value

    return BeforeValidator(check)


UtcDatetime = Annotated[
    AwareDatetime,
    Strict(False),  # JSON carries a datetime as text, which strict inputs would refuse
    _iso_text(r"\d{4}-\d{2}-\d{2}T", "an ISO 8601 date and time"),
    AfterValidator(_to_utc),
]
"""A datetime with its UTC offset (a naive one is refused), converted to UTC."""
IsoDate = Annotated[date, Strict(False), _iso_text(r"\d{4}-\d{2}-\d{2}$", "a date, YYYY-MM-DD")]
"""A day as ``YYYY-MM-DD``."""


class Input(BaseModel):
    """A request body: unknown fields and values of the wrong JSON type are refused
    (strict: "0.5" is not a number, 1 is not a string, false is not 0)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("*")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        found = unstorable(value)
        if found is not None:
            raise ValueError(found[1])
        return value


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class PageOf(Output, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page")


# --- tenants -------------------------------------------------------------------------


class TenantLimits(Input):
    rate_per_minute: int | None = Field(None, ge=1, le=1_000_000)
    rate_burst: int | None = Field(None, ge=1, le=1_000_000)
    max_concurrent_calls: int | None = Field(None, ge=0, le=100_000)
    monthly_call_minutes: int | None = Field(None, ge=0, le=INT32_MAX)
    retention_days: int | None = Field(None, ge=1, le=3650)
    pii_policy: Literal["redact", "keep"] | None = None
    """``redact``: caller numbers are masked in call records and logs."""


class TenantCreate(Input):
    name: Name
    email: Email
    password: Password | None = None
    """The owner's password when ``email`` is a new account; an existing account keeps its
    own (never sent, never checked: no route takes another user's password)."""
    limits: TenantLimits = TenantLimits()


class TenantUpdate(Input):
    status: Literal["active", "suspended"] | None = None
    limits: TenantLimits = TenantLimits()


class TenantPublic(Output):
    id: str
    name: str
    status: str
    rate_per_minute: int
    rate_burst: int
    max_concurrent_calls: int
    monthly_call_minutes: int | None
    retention_days: int
    pii_policy: str
    created_at: datetime


class TenantBootstrap(BaseModel):
    tenant_id: str
    user_id: str
    api_key: str


# --- auth and members ----------------------------------------------------------------


class LoginRequest(Input):
    email: Email
    password: Annotated[SecretStr, Field(max_length=MAX_PASSWORD_LENGTH)]
    tenant_id: ObjectId | None = None
    """Needed only when the user belongs to several tenants."""
    invitation_id: ObjectId | None = None
    """Accept this invitation of the user's email and sign in to its tenant."""


class RefreshRequest(Input):
    refresh_token: Annotated[SecretStr, Field(max_length=200)]


class TokenPair(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    refresh_token: str


class SwitchRequest(Input):
    tenant_id: ObjectId


class MyTenant(BaseModel):
    id: str
    name: str
    role: str
    current: bool = Field(description="The tenant of the access token used")


class MemberCreate(Input):
    """An invitation to join with a role: nobody's password, whether or not the email has
    an account (the answer does not tell)."""

    email: Email
    role: Role


class MemberUpdate(Input):
    role: Role


class MemberPublic(Output):
    id: str
    user_id: str
    email: str
    role: str
    created_at: datetime


InvitationStatus = Literal["pending", "accepted", "revoked", "expired"]


class InvitationPublic(Output):
    id: str
    email: str
    role: str
    status: InvitationStatus
    created_at: datetime
    expires_at: datetime


class InvitationCreated(InvitationPublic):
    token: str = Field(
        description="Shown once: the invitee's link token. A new account accepts with it "
        "(POST /v1/invitations/accept); an existing one signs in and accepts by id."
    )


class InvitationAccept(Input):
    token: Annotated[SecretStr, Field(max_length=200)]
    password: Password
    """The new account's password."""


class UserPublic(Output):
    id: str
    email: str
    disabled: bool
    created_at: datetime


class UserUpdate(Input):
    disabled: bool
    """A disabled user's tokens and keys stop working at once; enabling restores the keys,
    not the ended login sessions."""


# --- API keys ------------------------------------------------------------------------


class ApiKeyCreate(Input):
    name: Name
    role: Role = "developer"
    scopes: list[Annotated[str, StringConstraints(max_length=40)]] | None = Field(
        None, max_length=40, description="Narrow the role's permissions to these"
    )
    rate_per_minute: int | None = Field(None, ge=1, le=1_000_000)


class ApiKeyPublic(Output):
    id: str
    name: str
    prefix: str
    role: str
    scopes: list[str]
    rate_per_minute: int | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyPublic):
    secret: str = Field(description="Shown once; store it now")


# --- agents --------------------------------------------------------------------------


class AgentPublic(Output):
    id: str
    name: str
    version: int
    created_at: datetime
    updated_at: datetime
    document: dict[str, Any]


class AgentVersionPublic(Output):
    version: int
    created_at: datetime
    created_by: str | None
    document: dict[str, Any]


# --- phone numbers -------------------------------------------------------------------


class PhoneNumberCreate(Input):
    number: Annotated[str, StringConstraints(min_length=2, max_length=32), _trimmed(2)]
    agent_id: ObjectId | None = None
    label: Name | None = None


class PhoneNumberUpdate(Input):
    agent_id: ObjectId | None = None
    label: Name | None = None


class PhoneNumberPublic(Output):
    id: str
    number: str
    agent_id: str | None
    label: str | None
    created_at: datetime


class Route(BaseModel):
    """Where an inbound call goes: the agent a dialled number (or a WebRTC call token,
    ``number`` None) points at."""

    tenant_id: str
    number: str | None
    agent_id: str
    agent_version: int


# --- SIP trunks ----------------------------------------------------------------------

PASSWORD_MASK = "••••••••"
"""How a stored digest password is shown: never a character of it."""
MAX_TRUNK_NETWORKS = 100


def _network(text: str) -> str:
    """An IPv4/IPv6 network in CIDR form (a bare address is one host), normalised."""
    try:
        return str(ipaddress.ip_network(text.strip(), strict=True))
    except ValueError as error:
        try:
            loose = ipaddress.ip_network(text.strip(), strict=False)
        except ValueError:
            raise ValueError(f"{text!r} is not an IPv4/IPv6 address or CIDR network") from error
        raise ValueError(f"{text!r} has host bits set; did you mean {loose}?") from error


_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def _host_port(text: str) -> str:
    """``host``, ``host:port`` or ``[v6]:port``: a DNS name or an IP address, a valid port."""
    text = text.strip().lower()
    host, port = text, ""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise ValueError("expected [IPv6]:port")
        port = rest[1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError as error:
            raise ValueError(f"{host!r} is not an IPv6 address") from error
    else:
        if text.count(":") == 1:
            host, _, port = text.partition(":")
        labels = host.split(".")
        if not host or len(host) > 253 or not all(_HOST_LABEL.match(x) for x in labels):
            raise ValueError(f"{text!r} is not host[:port] (a DNS name or an IP address)")
    if port and not (port.isdigit() and 1 <= int(port) <= 65535):
        raise ValueError(f"{port!r} is not a port (1-65535)")
    return text


Network = Annotated[str, StringConstraints(max_length=64), AfterValidator(_network)]
HostPort = Annotated[
    str, StringConstraints(min_length=1, max_length=260), AfterValidator(_host_port)
]
DigestUsername = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.~+!$&'()*,;=%-]{1,100}$")]
DigestPassword = Annotated[SecretStr, Field(min_length=1, max_length=128)]


class DigestAuth(Input):
    """Digest credentials (RFC 3261 section 22): what callers must answer, inbound."""

    username: DigestUsername
    password: DigestPassword


class OutboundAuth(DigestAuth):
    """What voxplane answers when the trunk challenges (401/407), and registers with."""

    registrar: HostPort | None = Field(
        None, description="REGISTER here (host[:port]); default: no registration"
    )


class SipTrunkCreate(Input):
    name: Name
    inbound_addresses: list[Network] = Field(
        default_factory=list,
        max_length=MAX_TRUNK_NETWORKS,
        description="Networks (CIDR, IPv4 or IPv6) whose INVITEs this trunk accepts",
    )
    inbound_auth: DigestAuth | None = None
    outbound_address: HostPort | None = Field(
        None, description="Where outbound calls go: the carrier's SIP server or outbound proxy"
    )
    outbound_transport: Literal["udp", "tcp"] = "udp"
    outbound_auth: OutboundAuth | None = None


class SipTrunkUpdate(Input):
    """Fields given replace the stored ones; ``null`` removes an optional one."""

    name: Name | None = None
    inbound_addresses: list[Network] | None = Field(None, max_length=MAX_TRUNK_NETWORKS)
    inbound_auth: DigestAuth | None = None
    outbound_address: HostPort | None = None
    outbound_transport: Literal["udp", "tcp"] | None = None
    outbound_auth: OutboundAuth | None = None


class DigestAuthPublic(BaseModel):
    username: str
    password: str = Field(PASSWORD_MASK, description="Always masked")


class OutboundAuthPublic(DigestAuthPublic):
    registrar: str | None


class SipTrunkPublic(BaseModel):
    id: str
    name: str
    inbound_addresses: list[str]
    inbound_auth: DigestAuthPublic | None
    outbound_address: str | None
    outbound_transport: str
    outbound_auth: OutboundAuthPublic | None
    created_at: datetime
    updated_at: datetime


# --- WebRTC ------------------------------------------------------------------------


class WebRtcTokenCreate(Input):
    agent_id: ObjectId


class IceServerPublic(Output):
    """A STUN or TURN server for the page's ``RTCPeerConnection`` (``RTCIceServer``)."""

    urls: list[str]
    username: str | None = None
    credential: str | None = None


class WebRtcTokenPublic(Output):
    token: str = Field(description="Send as 'Authorization: Bearer' to POST /v1/webrtc/calls")
    expires_at: datetime
    ice_servers: list[IceServerPublic] = Field(
        default_factory=list,
        description="The deployment's STUN/TURN servers (VOXPLANE_WEBRTC_ICE_SERVERS), for "
        "the page's RTCPeerConnection: with them a caller behind NAT can reach the server",
    )


_ORIGIN = re.compile(r"^https?://[a-z0-9.-]{1,253}(:[0-9]{1,5})?$")


def _origin(value: str) -> str:
    """A web origin as browsers send it: ``scheme://host[:port]``, no path."""
    value = value.strip().lower().rstrip("/")
    if not _ORIGIN.match(value):
        raise ValueError("an origin is scheme://host[:port], e.g. https://www.example.com")
    return value


Origin = Annotated[str, StringConstraints(max_length=270), AfterValidator(_origin)]


class PublishableKeyCreate(Input):
    """A key for a public web page: it can only mint call tokens for ``agent_id``, and
    only from pages on ``allowed_origins``."""

    name: Name
    agent_id: ObjectId
    allowed_origins: list[Origin] = Field(min_length=1, max_length=20)


class PublishableKeyPublic(Output):
    id: str
    name: str
    prefix: str
    agent_id: str
    allowed_origins: list[str]
    created_at: datetime
    revoked_at: datetime | None


class PublishableKeyCreated(PublishableKeyPublic):
    key: str = Field(description="Shown once: put it in the page's widget snippet")


# --- credentials ---------------------------------------------------------------------


class CredentialCreate(Input):
    name: Name
    provider: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_-]{1,32}$")]
    secret: Annotated[SecretStr, Field(min_length=1, max_length=8192)]


class CredentialUpdate(Input):
    secret: Annotated[SecretStr, Field(min_length=1, max_length=8192)]


class CredentialPublic(Output):
    id: str
    name: str
    provider: str
    masked: str
    created_at: datetime
    updated_at: datetime


# --- calls ---------------------------------------------------------------------------


ProviderKind = Literal["stt", "brain", "tts"]
"""Kinds of provider a call's record counts failures of."""


class Turn(Input):
    role: Literal["user", "agent"]
    text: Annotated[str, StringConstraints(max_length=20_000)]
    start_ms: int = Field(ge=0)
    end_ms: int = Field(ge=0)
    interrupted: bool = False


class TurnLatency(Input):
    turn: int = Field(ge=0)
    stt_ms: int | None = None
    brain_ms: int | None = None
    tts_ms: int | None = None
    voice_to_voice_ms: int | None = None


MAX_SECONDS = 1e9
"""Far above any call, far below where a day's sum could overflow."""


class CallUsage(Input):
    audio_s: float = Field(0.0, ge=0, le=MAX_SECONDS)
    stt_s: float = Field(0.0, ge=0, le=MAX_SECONDS)
    tts_chars: int = Field(0, ge=0, le=INT32_MAX)
    llm_tokens: int = Field(0, ge=0, le=INT32_MAX)


Direction = Literal["inbound", "outbound", "simulated"]
Transport = Literal["sip", "twilio", "telnyx", "webrtc", "simulated"]
EndReason = Literal[
    "caller_hangup",
    "agent_hangup",
    "transfer",
    "silence",
    "max_duration",
    "shutdown",
    "error",
    # an outbound call that never connected
    "no_answer",
    "busy",
    "declined",
    "failed",
    # refused, never answered, because the worker was full
    "over_capacity",
]
NOT_CONNECTED: frozenset[str] = frozenset({"no_answer", "busy", "declined", "failed"})
"""End reasons of calls that never connected: they count as calls, not as call minutes."""


FieldValue = Annotated[str, StringConstraints(max_length=2000)] | int | float | bool


class CallAnalysis(Input):
    """What was worked out after a call: the structured fields the agent asked for, whether
    the call met its success criteria (None: not judged), and a summary."""

    fields: dict[Annotated[str, StringConstraints(max_length=64)], FieldValue] = Field(
        default_factory=dict, max_length=50
    )
    success: bool | None = None
    summary: Annotated[str, StringConstraints(max_length=4000)] | None = None

    @property
    def outcome(self) -> Literal["success", "failure", "unknown"]:
        return "unknown" if self.success is None else "success" if self.success else "failure"


class CallCreate(Input):
    """A finished call, as the runtime reports it; ``turns``/``metrics`` as ``talk --json``."""

    agent_id: ObjectId
    agent_version: int | None = Field(
        None, ge=1, le=1_000_000, description="Default: the current version"
    )
    direction: Direction = "inbound"
    transport: Transport
    from_number: Annotated[str, StringConstraints(max_length=64)] | None = None
    to_number: Annotated[str, StringConstraints(max_length=64)] | None = None
    transport_call_id: Annotated[str, StringConstraints(max_length=128)] | None = Field(
        None, description="The transport's own id: SIP Call-ID, Twilio CallSid"
    )
    started_at: UtcDatetime = Field(description="When the call arrived (INVITE, webhook)")
    answered_at: UtcDatetime | None = Field(None, description="When the agent took it")
    ended_at: UtcDatetime
    end_reason: EndReason
    usage: CallUsage = CallUsage()
    false_starts: int = Field(0, ge=0, le=INT32_MAX)
    """Agent answers cut because the caller, who had only paused, went on."""
    held_turns: int = Field(0, ge=0, le=INT32_MAX)
    """Caller turns held as incomplete (the agent waited instead of answering)."""
    provider_errors: dict[ProviderKind, Annotated[int, Field(ge=0, le=INT32_MAX)]] = Field(
        default_factory=dict, description="Provider failures retries did not cure, by kind"
    )
    soft_barge_ins: int = Field(0, ge=0, le=INT32_MAX)
    """Times caller speech over the agent paused (or lowered) it."""
    resumed_after_backchannel: int = Field(0, ge=0, le=INT32_MAX)
    """Of those, the times the agent went on (a backchannel, or nothing recognizable)."""
    turns: list[Turn] = Field(default_factory=list, max_length=2000)
    metrics: list[TurnLatency] = Field(default_factory=list, max_length=2000)
    trace_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")] | None = Field(
        None, description="The call's OpenTelemetry trace id"
    )
    analysis: CallAnalysis | None = None


class CallProgress(Input):
    """A call in progress, as the runtime announces it (``call.started``, ``call.answered``)."""

    call_id: str
    agent_id: ObjectId
    agent_version: int | None = None
    direction: Direction
    transport: Transport
    from_number: str | None = None
    to_number: str | None = None
    started_at: UtcDatetime
    answered_at: UtcDatetime | None = None
    seq: int = Field(ge=1, description="The event's place among the call's events (1, 2, …)")


class CallSummary(Output):
    id: str
    agent_id: str
    agent_version: int
    direction: str
    transport: str
    from_number: str | None
    to_number: str | None
    transport_call_id: str | None
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime
    duration_s: float
    end_reason: str
    outcome: str = "unknown"
    """From the post-call analysis: ``success``, ``failure`` or ``unknown``."""


class CallPublic(CallSummary):
    usage: CallUsage
    false_starts: int
    held_turns: int
    provider_errors: dict[str, int]
    soft_barge_ins: int
    resumed_after_backchannel: int
    turns: list[Turn]
    metrics: list[TurnLatency]
    trace_id: str | None = None
    analysis: CallAnalysis | None = None


class OutboundCallCreate(Input):
    """Place a call: ``agent_id`` talks to ``to``, calling from ``from`` (one of the
    tenant's numbers) through the SIP trunk ``trunk_id``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    agent_id: ObjectId
    to: Annotated[str, StringConstraints(min_length=2, max_length=32), _trimmed(2)]
    from_: Annotated[str, StringConstraints(min_length=2, max_length=32), _trimmed(2)] = Field(
        alias="from"
    )
    trunk_id: ObjectId


class OutboundCallPublic(BaseModel):
    id: str = Field(description="The call's id: its record appears at /v1/calls/{id} once it ends")
    status: Literal["dialing"] = "dialing"


# --- usage and audit -----------------------------------------------------------------


class UsageDayPublic(Output):
    day: date
    calls: int
    call_seconds: float
    audio_s: float
    stt_s: float
    tts_chars: int
    llm_tokens: int


class OutcomeCounts(Output):
    success: int = 0
    failure: int = 0
    unknown: int = 0


class AgentAnalytics(Output):
    agent_id: str
    calls: int
    minutes: float
    outcomes: OutcomeCounts


class DayAnalytics(Output):
    day: date
    calls: int
    minutes: float
    outcomes: OutcomeCounts


class LatencyPercentiles(Output):
    p50: float | None
    p95: float | None
    turns: int = Field(description="How many answered turns the percentiles are over")


class AnalyticsPublic(Output):
    start: date
    end: date
    calls: int
    minutes: float
    outcomes: OutcomeCounts
    end_reasons: dict[str, int]
    agents: list[AgentAnalytics]
    days: list[DayAnalytics]
    latency_ms: dict[Literal["voice_to_voice", "stt", "brain", "tts"], LatencyPercentiles]
    latency_calls: int = Field(description="The most recent calls the latency is taken from")
    days_complete: bool = Field(
        description="False when the window held more calls than the per-day count reads"
    )


class AuditEventPublic(Output):
    id: str
    actor_type: str
    actor_id: str | None
    action: str
    target_type: str
    target_id: str | None
    ip: str | None
    request_id: str | None
    details: dict[str, Any]
    at: datetime


# --- webhooks ------------------------------------------------------------------------

WebhookEventFilter = Annotated[
    str, StringConstraints(pattern=r"^(\*|[a-z]+\.[a-z_]+)$", max_length=40)
]


class WebhookCreate(Input):
    url: Annotated[str, StringConstraints(min_length=8, max_length=2048), _trimmed(8)]
    events: list[WebhookEventFilter] = Field(
        default_factory=lambda: ["*"],
        min_length=1,
        max_length=20,
        description="Event types to receive (`call.ended`, …) or `*` for all",
    )
    description: Annotated[str, StringConstraints(max_length=200)] | None = None
    enabled: bool = True


class WebhookUpdate(Input):
    url: Annotated[str, StringConstraints(min_length=8, max_length=2048), _trimmed(8)] | None = None
    events: list[WebhookEventFilter] | None = Field(None, min_length=1, max_length=20)
    description: Annotated[str, StringConstraints(max_length=200)] | None = None
    enabled: bool | None = None


class WebhookPublic(Output):
    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    id: str
    url: str
    events: list[str]
    description: str | None
    enabled: bool
    previous_secret_expires_at: datetime | None = Field(
        validation_alias="previous_expires_at",
        description="Until when the previous secret still signs (after a rotation)",
    )
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookPublic):
    secret: str = Field(description="The signing secret, shown once; store it now")


class WebhookRotate(Input):
    overlap_s: int = Field(
        86_400, ge=0, le=7 * 86_400, description="How long the old secret keeps signing too"
    )


class WebhookAttempt(Output):
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: float
    response: str = Field(description="The start of the receiver's answer")


class WebhookDeliveryPublic(Output):
    id: str
    event_id: str
    event_type: str
    status: Literal["pending", "delivered", "dead"]
    attempt_count: int
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime
    attempts: list[WebhookAttempt]
