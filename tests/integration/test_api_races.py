"""Read-then-write units under real concurrency, on SQLite and PostgreSQL alike.

Requests run concurrently in one event loop over the ASGI app (each database connection
does its I/O on its own, so the transactions truly overlap). PostgreSQL serializes them
with row locks; embedded SQLite must take its write lock at the start of such a unit, or
two of them read the same state and one fails (or both win).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from test_api_agents import acme

from conftest import ADMIN_TOKEN, PASSWORD
from voxplane.api.app import create_app
from voxplane.services.platform import open_platform
from voxplane.settings import Settings

RACERS = 8


@asynccontextmanager
async def api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with open_platform(settings) as platform:
        app = create_app(settings, platform)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://voxplane") as client:
            yield client


async def owner(client: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    """A new tenant's owner email and owner API key header."""
    name = f"t-{secrets.token_hex(4)}"
    email = f"owner@{name}.test"
    made = await client.post(
        "/v1/tenants",
        json={"name": name, "email": email, "password": PASSWORD},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert made.status_code == 201, made.text
    return email, {"Authorization": f"Bearer {made.json()['api_key']}"}


def test_racing_refreshes_of_one_token_are_always_caught(settings: Settings) -> None:
    async def scenario() -> None:
        async with api(settings) as client:
            email, _ = await owner(client)
            for _ in range(3):  # the race is decided by timing: run it a few times
                login = await client.post(
                    "/v1/auth/login", json={"email": email, "password": PASSWORD}
                )
                assert login.status_code == 200, login.text
                token = {"refresh_token": login.json()["refresh_token"]}
                answers = await asyncio.gather(
                    *(client.post("/v1/auth/refresh", json=token) for _ in range(RACERS))
                )
                statuses = sorted(a.status_code for a in answers)
                assert statuses == [200] + [401] * (RACERS - 1), [a.text for a in answers]
                # a reuse was seen: the session is over, the winner's new token included
                (won,) = [a for a in answers if a.status_code == 200]
                again = {"refresh_token": won.json()["refresh_token"]}
                assert (await client.post("/v1/auth/refresh", json=again)).status_code == 401
                access = {"Authorization": f"Bearer {won.json()['access_token']}"}
                assert (await client.get("/v1/agents", headers=access)).status_code == 401

    asyncio.run(scenario())


def test_racing_agent_updates_serialize(settings: Settings) -> None:
    async def scenario() -> None:
        async with api(settings) as client:
            _, auth = await owner(client)
            made = await client.post("/v1/agents", json=acme(), headers=auth)
            assert made.status_code == 201, made.text
            path = f"/v1/agents/{made.json()['id']}"
            answers = await asyncio.gather(
                *(client.put(path, json=acme(), headers=auth) for _ in range(RACERS))
            )
            assert [a.status_code for a in answers] == [200] * RACERS, [a.text for a in answers]
            versions = sorted(a.json()["version"] for a in answers)
            assert versions == list(range(2, RACERS + 2))
            current = await client.get(path, headers=auth)
            assert current.json()["version"] == RACERS + 1
            listed = await client.get(f"{path}/versions", headers=auth, params={"limit": 50})
            assert len(listed.json()["items"]) == RACERS + 1

    asyncio.run(scenario())
