"""Fixtures for tests against the real databases: SQLite and the running PostgreSQL.

Each test session gets a fresh PostgreSQL database (dropped at the end); tests keep apart
by creating their own tenants with unique names.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from fastapi.testclient import TestClient

from voxplane.api.app import create_app
from voxplane.settings import Settings

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
ADMIN_TOKEN = "test-admin-token-" + "x" * 20
PASSWORD = "correct horse battery"


async def _pg(statement: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A new, empty PostgreSQL database for this test session."""
    name = f"voxplane_test_{secrets.token_hex(4)}"
    asyncio.run(_pg(f'CREATE DATABASE "{name}"'))
    yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'voxplane.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


def make_settings(url: str, data_dir: Path, **more: object) -> Settings:
    """Settings for a test app; audit events are exported at once unless ``more`` says."""
    more = {"audit_export_delay_s": 0.0, **more}
    return Settings(
        data_dir=data_dir,
        database_url=url,
        admin_token=ADMIN_TOKEN,  # type: ignore[arg-type]
        run_migrations=True,
        **more,  # type: ignore[arg-type]
    )


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The API over a real database, its lifespan (migrations included) entered."""
    with TestClient(create_app(settings), raise_server_exceptions=True) as test_client:
        yield test_client


@dataclass(frozen=True)
class Tenant:
    id: str
    user_id: str
    api_key: str
    email: str
    password: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


@pytest.fixture
def new_tenant(client: TestClient) -> Callable[..., Tenant]:
    """Create a tenant (with an owner and an owner API key) through the admin API."""

    def create(**limits: object) -> Tenant:
        name = f"t-{secrets.token_hex(4)}"
        email = f"owner@{name}.test"
        response = client.post(
            "/v1/tenants",
            json={"name": name, "email": email, "password": PASSWORD, "limits": limits},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        assert response.status_code == 201, response.text
        body = response.json()
        return Tenant(body["tenant_id"], body["user_id"], body["api_key"], email, PASSWORD)

    return create


def add_member(
    client: TestClient,
    tenant: Tenant,
    role: str,
    email: str | None = None,
    *,
    signed_in: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Invite ``email`` into ``tenant`` and accept: as a new account with the link token
    (password ``PASSWORD``), or, given the invitee's ``signed_in`` headers, as that account."""
    email = email or f"m-{secrets.token_hex(4)}@members.test"
    invited = client.post("/v1/members", json={"email": email, "role": role}, headers=tenant.auth)
    assert invited.status_code == 201, invited.text
    invitation = invited.json()
    if signed_in is None:
        body = {"token": invitation["token"], "password": PASSWORD}
        accepted = client.post("/v1/invitations/accept", json=body)
    else:
        accepted = client.post(f"/v1/invitations/{invitation['id']}/accept", headers=signed_in)
    assert accepted.status_code == 200, accepted.text
    members = client.get("/v1/members", headers=tenant.auth, params={"limit": 200})
    (member,) = [m for m in members.json()["items"] if m["email"] == email]
    assert member["role"] == role
    return member  # type: ignore[no-any-return]
