"""What goes in and out of the services: ``XCreate`` / ``XUpdate`` / ``XPublic`` models.

Inputs reject unknown fields; outputs never carry a secret (a credential's ``masked`` form
and an API key's ``prefix`` are the most that is ever shown, the key's secret once).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    field_validator,
)

from voxplane.security.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from voxplane.services.principal import Role

T = TypeVar("T")

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
    ),
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


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A datetime with its UTC offset (a naive one is refused), converted to UTC."""


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")

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
    password: Password
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


class RefreshRequest(Input):
    refresh_token: Annotated[SecretStr, Field(max_length=200)]


class TokenPair(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    refresh_token: str


class MemberCreate(Input):
    email: Email
    role: Role
    password: Password | None = None
    """Creates the user when the email is new; an existing user's, as their consent."""


class MemberUpdate(Input):
    role: Role


class MemberPublic(Output):
    id: str
    user_id: str
    email: str
    role: str
    created_at: datetime


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
    number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=32)]
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
    """Where an inbound call to a number goes."""

    tenant_id: str
    number: str
    agent_id: str
    agent_version: int


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
Transport = Literal["sip", "twilio", "webrtc", "simulated"]
EndReason = Literal["caller_hangup", "agent_hangup", "transfer", "silence", "max_duration", "error"]


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
    started_at: UtcDatetime
    ended_at: UtcDatetime
    end_reason: EndReason
    usage: CallUsage = CallUsage()
    turns: list[Turn] = Field(default_factory=list, max_length=2000)
    metrics: list[TurnLatency] = Field(default_factory=list, max_length=2000)


class CallSummary(Output):
    id: str
    agent_id: str
    agent_version: int
    direction: str
    transport: str
    from_number: str | None
    to_number: str | None
    started_at: datetime
    ended_at: datetime
    duration_s: float
    end_reason: str


class CallPublic(CallSummary):
    usage: CallUsage
    turns: list[Turn]
    metrics: list[TurnLatency]


# --- usage and audit -----------------------------------------------------------------


class UsageDayPublic(Output):
    day: date
    calls: int
    call_seconds: float
    audio_s: float
    stt_s: float
    tts_chars: int
    llm_tokens: int


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
