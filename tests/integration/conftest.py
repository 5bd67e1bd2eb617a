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
