"""The one settings object of the control plane, built once by the entry point.

Every value comes from a ``VOXPLANE_*`` environment variable (or a ``--flag`` that the CLI
folds in); library code receives the object and never reads the environment itself.
Embedded defaults (``voxplane serve`` with nothing set): a SQLite file, a generated key file
and a generated token secret in the data directory, limits and leases in memory.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from voxplane.errors import ConfigError


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
    """Platform-admin bearer token for ``/v1/tenants``; that API is off without it."""

    access_token_ttl_s: int = Field(900, ge=60, le=86_400)
    refresh_token_ttl_s: int = Field(30 * 86_400, ge=3600, le=365 * 86_400)
    max_body_bytes: int = Field(1_048_576, ge=1024, le=64 * 1_048_576)
    request_timeout_s: float = Field(30.0, gt=0)
    shutdown_grace_s: float = Field(20.0, ge=0)
    default_rate_per_minute: int = Field(1000, ge=1)
    default_rate_burst: int = Field(200, ge=1)
    default_max_concurrent_calls: int = Field(10, ge=0)
    call_lease_ttl_s: float = Field(60.0, ge=5)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    run_migrations: bool | None = None
    """Upgrade the schema at start; default on for SQLite (embedded), off otherwise."""

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
    def database(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'voxplane.db'}"

    @property
    def is_sqlite(self) -> bool:
        return self.database.startswith("sqlite")

    @property
    def migrate_at_start(self) -> bool:
        return self.is_sqlite if self.run_migrations is None else self.run_migrations

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
