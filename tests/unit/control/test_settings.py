"""Settings: embedded defaults, production refusing generated secrets, flags over env."""

from __future__ import annotations

from pathlib import Path

import pytest

from voxplane.errors import ConfigError
from voxplane.settings import Settings, load_settings


def test_embedded_defaults_live_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.database == f"sqlite+aiosqlite:///{tmp_path / 'voxplane.db'}"
    assert settings.migrate_at_start
    assert settings.key_file == tmp_path / "secret.keys"
    secret = settings.token_secret_bytes()
    assert len(secret) >= 32
    assert (tmp_path / "token.secret").stat().st_mode & 0o077 == 0
    assert settings.token_secret_bytes() == secret  # generated once, then reused


def test_postgres_does_not_migrate_at_start_unless_asked(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://db/voxplane"
    assert not Settings(data_dir=tmp_path, database_url=url).migrate_at_start
    assert Settings(data_dir=tmp_path, database_url=url, run_migrations=True).migrate_at_start


def test_production_refuses_to_generate_secrets(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(environment="production", data_dir=tmp_path)
    message = str(raised.value)
    for name in ("VOXPLANE_DATABASE_URL", "VOXPLANE_TOKEN_SECRET", "VOXPLANE_SECRET_KEYS"):
        assert name in message


def test_short_token_secret_is_refused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, token_secret="too-short")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        settings.token_secret_bytes()


def test_flags_override_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOXPLANE_PORT", "9001")
    monkeypatch.setenv("VOXPLANE_DATA_DIR", str(tmp_path / "env"))
    assert load_settings().port == 9001
    settings = load_settings(port=9002, data_dir=tmp_path / "flag", host=None)
    assert (settings.port, settings.data_dir) == (9002, tmp_path / "flag")


def test_unknown_or_bad_values_name_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOXPLANE_PORT", "not-a-port")
    with pytest.raises(ConfigError, match="port"):
        load_settings()


def test_a_short_platform_admin_token_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="VOXPLANE_ADMIN_TOKEN must be at least 32 bytes"):
        load_settings(data_dir=tmp_path, admin_token="x" * 31)
    assert load_settings(data_dir=tmp_path, admin_token="x" * 32).admin_token is not None


def test_public_url_defaults_to_where_serve_listens(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path, port=9000).public_base_url == "http://127.0.0.1:9000"
    given = load_settings(data_dir=tmp_path, public_url="https://voice.example.com/")
    assert given.public_base_url == "https://voice.example.com"


@pytest.mark.parametrize("url", ["voice.example.com", "ftp://x", "https://x/y?q=1", "https://"])
def test_a_public_url_must_be_an_http_base_url(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError, match="public_url"):
        load_settings(data_dir=tmp_path, public_url=url)
