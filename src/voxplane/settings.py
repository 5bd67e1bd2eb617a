"""The one settings object of the control plane, built once by the entry point.

Every value comes from a ``VOXPLANE_*`` environment variable (or a ``--flag`` that the CLI
folds in); library code receives the object and never reads the environment itself.
Embedded defaults (``voxplane serve`` with nothing set): a SQLite file, a generated key file
and a generated token secret in the data directory, limits and leases in memory.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from voxplane.errors import ConfigError


class IceServer(BaseModel):
    """One STUN or TURN server offered to WebRTC peer connections."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    urls: list[str] = Field(min_length=1)
    username: str | None = None
    credential: SecretStr | None = None


class Settings(BaseSettings):
    """Control-plane configuration; see ``docs/configuration.md`` for every variable."""

    model_config = SettingsConfigDict(env_prefix="VOXPLANE_", extra="forbid", frozen=True)

    environment: Literal["development", "production"] = "development"
    """In production, secrets must be given explicitly: nothing is generated."""
    data_dir: Path = Path("./voxplane-data")
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)

    database_url: str | None = None
    """SQLAlchemy async URL; default ``sqlite+aiosqlite:///<data_dir>/voxplane.db``."""
    database_pool_size: int = Field(10, ge=1, le=200)
    redis_url: str | None = None
    """Rate limits and call leases in Redis; in memory (one process) without it."""

    secret_keys: SecretStr | None = None
    """Encryption keys for stored credentials, ``id:base64`` per line, primary first."""
    secret_key_file: Path | None = None
    """Where the keys live when ``secret_keys`` is unset; default ``<data_dir>/secret.keys``."""
    token_secret: SecretStr | None = None
    """Signs access tokens (≥ 32 bytes); generated into the data dir in development."""
    admin_token: SecretStr | None = None
    """Platform-admin bearer token (≥ 32 bytes) for ``/v1/tenants``; that API is off without it."""

    access_token_ttl_s: int = Field(900, ge=60, le=86_400)
    refresh_token_ttl_s: int = Field(30 * 86_400, ge=3600, le=365 * 86_400)
    max_body_bytes: int = Field(1_048_576, ge=1024, le=64 * 1_048_576)
    request_timeout_s: float = Field(30.0, gt=0)
    shutdown_grace_s: float = Field(20.0, ge=0)
    drain_delay_s: float = Field(5.0, ge=0)
    """On SIGTERM, keep serving this long with ``/readyz`` at 503 before closing the port."""
    default_rate_per_minute: int = Field(1000, ge=1)
    default_rate_burst: int = Field(200, ge=1)
    default_max_concurrent_calls: int = Field(10, ge=0)
    call_lease_ttl_s: float = Field(60.0, ge=5)
    max_calls: int | None = Field(None, ge=0, le=10_000)
    """Calls this worker runs at once; a call above it is refused (``over_capacity``: SIP
    503 with Retry-After, HTTP 503) instead of slowing every call down. Default: 2 per CPU
    core, what the local models were measured to hold; 0 refuses every call."""
    preload_models: bool = True
    """``serve`` loads the local models (Whisper, Piper, Silero) at start, and ``/readyz``
    answers 503 until they are loaded, so no caller waits for them; off, the first call
    that needs them loads them. Without the ``local`` extra nothing is loaded."""
    tts_cache_max_bytes: int = Field(64 * 1_048_576, ge=0)
    """The in-memory TTS phrase cache's size (without Redis); 0 turns it off."""
    tts_cache_ttl_s: int = Field(7 * 86_400, ge=60)
    """With Redis: a cached phrase expires this long after its last use."""
    audit_export_delay_s: float = Field(5.0, ge=0, le=3600)
    """``/v1/audit-events/export`` holds back events younger than this, so that a write
    still committing cannot land behind a cursor already handed out."""
    public_url: str | None = Field(None, pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$")
    """Where carriers reach this server (Twilio signs the webhook URL it called, and the
    media-stream URL is built from it); default ``http://HOST:PORT``."""
    webrtc_ice_servers: list[IceServer] = []
    """STUN/TURN servers for WebRTC calls, as JSON:
    ``[{"urls": ["stun:stun.example.com:3478"]}, {"urls": ["turn:…"], "username": …,
    "credential": …}]``. None by default: host candidates only (a LAN, or a public IP)."""
    webrtc_ice_addresses: list[str] = []
    """Gather host candidates on these addresses only (e.g. ``["127.0.0.1"]`` for a
    loopback test peer); all interfaces but loopback when empty (aioice's default)."""
    webrtc_token_ttl_s: int = Field(60, ge=5, le=3600)
    """How long a WebRTC call token from ``POST /v1/webrtc/tokens`` may wait to be used."""
    amqp_url: str | None = None
    """RabbitMQ for events (``amqp://user:pass@host:5672/vhost``); in process without it."""
    events_worker: bool = True
    """Run the outbox relay and webhook delivery in this process."""
    webhook_allow_private_networks: bool = False
    """Let webhooks, LLM agents' tools and their model servers reach loopback and private
    addresses: development and tests only."""
    webhook_timeout_s: float = Field(10.0, gt=0, le=60)
    webhook_retry_window_s: float = Field(86_400.0, gt=0)
    webhook_retry_base_s: float = Field(5.0, gt=0)
    webhook_concurrency: int = Field(16, ge=1, le=256)
    otlp_endpoint: str | None = None
    """Export traces over OTLP/HTTP here (``http://jaeger:4318/v1/traces``); off without it."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    # SIP and RTP (``voxplane serve``)
    sip_port: int = Field(5060, ge=0, le=65535)
    """UDP and TCP port of the SIP endpoint; 0 turns SIP off."""
    sip_host: str | None = None
    """Address the SIP and RTP sockets bind; default ``host``."""
    sip_public_address: str | None = None
    """The address put in Via, Contact and SDP (the public one behind NAT); default the
    bind address."""
    rtp_ports: str = Field("10000-20000", pattern=r"^\d{4,5}-\d{4,5}$")
    """The UDP port range of per-call RTP (RTCP on the port above each)."""
    sip_tls_port: int = Field(5061, ge=1, le=65535)
    sip_tls_cert: Path | None = None
    """PEM certificate (chain) for SIP over TLS; TLS is on when it and the key are set."""
    sip_tls_key: Path | None = None
    sip_ring_timeout_s: float = Field(32.0, ge=1.0, le=600.0)
    """How long an outbound call may ring before voxplane CANCELs it (``no_answer``)."""
    stream_silence_timeout_s: float = Field(30.0, ge=1.0, le=600.0)
    """A carrier's media stream (Twilio, Telnyx) that sends nothing for this long is a dead
    line: its call ends. Carriers stream audio every 20 ms, silences included."""
    run_migrations: bool | None = None
    """Upgrade the schema at start; default on for SQLite (embedded), off otherwise."""

    @model_validator(mode="after")
    def _admin_token_is_strong(self) -> Settings:
        # The token is the whole platform: short enough to guess must not start at all.
        if self.admin_token is not None and len(self.admin_token.get_secret_value().encode()) < 32:
            raise ValueError("VOXPLANE_ADMIN_TOKEN must be at least 32 bytes")
        return self

    @model_validator(mode="after")
    def _production_needs_secrets(self) -> Settings:
        if self.environment == "production":
            missing = [
                name
                for name, value in (
                    ("VOXPLANE_DATABASE_URL", self.database_url),
                    ("VOXPLANE_TOKEN_SECRET", self.token_secret),
                    (
                        "VOXPLANE_SECRET_KEYS or VOXPLANE_SECRET_KEY_FILE",
                        self.secret_keys or self.secret_key_file,
                    ),
                )
                if value is None
            ]
            if missing:
                raise ValueError(f"production requires {', '.join(missing)}")
        return self

    @property
    def rtp_port_range(self) -> tuple[int, int]:
        low, _, high = self.rtp_ports.partition("-")
        return int(low), int(high)

    @model_validator(mode="after")
    def _valid_sip(self) -> Settings:
        low, high = self.rtp_port_range
        if not 1024 <= low < high <= 65535:
            raise ValueError("rtp_ports must be LOW-HIGH within 1024-65535")
        if (self.sip_tls_cert is None) != (self.sip_tls_key is None):
            raise ValueError("set both sip_tls_cert and sip_tls_key, or neither")
        return self

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'voxplane.db'}"

    @property
    def is_sqlite(self) -> bool:
        return self.database.startswith("sqlite")

    @property
    def migrate_at_start(self) -> bool:
        return self.is_sqlite if self.run_migrations is None else self.run_migrations

    @property
    def public_base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def worker_max_calls(self) -> int:
        """``max_calls``, or its default for this machine."""
        return self.max_calls if self.max_calls is not None else 2 * (os.cpu_count() or 1)

    @property
    def recordings_dir(self) -> Path:
        """Where call recordings are kept (one WAV per call, by tenant)."""
        return self.data_dir / "recordings"

    @property
    def key_file(self) -> Path:
        return self.secret_key_file or self.data_dir / "secret.keys"

    def token_secret_bytes(self) -> bytes:
        """The access-token signing secret; generated once into the data dir in development."""
        if self.token_secret is not None:
            value = self.token_secret.get_secret_value().encode()
        else:
            path = self.data_dir / "token.secret"
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.touch(mode=0o600)
                path.write_text(secrets.token_urlsafe(48))
            value = path.read_text().strip().encode()
        if len(value) < 32:
            raise ConfigError("VOXPLANE_TOKEN_SECRET must be at least 32 bytes")
        return value


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment plus explicit overrides (CLI flags)."""
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)  # type: ignore[arg-type]
    except ValueError as error:
        raise ConfigError(f"invalid settings: {error}") from error
