"""``GET /v1/audit-events/export``: JSON lines, oldest first, followed with a cursor."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from test_api_agents import acme
from test_api_isolation import credential

from conftest import Tenant, make_settings
from voxplane.api.app import create_app

EXPORT = "/v1/audit-events/export"


def pull(client: TestClient, tenant: Tenant, **params: Any) -> tuple[list[dict[str, Any]], str]:
    response = client.get(EXPORT, params=params, headers=tenant.auth)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-ndjson"
    assert response.text == "" or response.text.endswith("\n")
    events = [json.loads(line) for line in response.text.splitlines()]
    return events, response.headers["x-next-cursor"]


def follow(
    client: TestClient, tenant: Tenant, cursor: str | None, limit: int
) -> tuple[list[str], str]:
    """What a SIEM does: pull pages until one comes back short; returns ids and the cursor."""
    ids: list[str] = []
    for _ in range(100):
        params = {"limit": limit} | ({"after": cursor} if cursor else {})
        events, cursor = pull(client, tenant, **params)
        ids += [event["id"] for event in events]
        if len(events) < limit:
            return ids, cursor
    raise AssertionError("the export never came to an end")


def test_a_follower_gets_every_event_once_oldest_first(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant, other = new_tenant(), new_tenant()
    for name in ("one", "two", "three"):
        made = client.post("/v1/agents", json={**acme(), "name": name}, headers=tenant.auth)
        assert made.status_code == 201, made.text
    listed = client.get("/v1/audit-events", headers=tenant.auth).json()["items"]

    ids, cursor = follow(client, tenant, None, limit=2)
    assert ids == [event["id"] for event in reversed(listed)]
    first, _ = pull(client, tenant, limit=1)
    assert first == [listed[-1]]  # the same fields and values as the list gives

    assert follow(client, tenant, cursor, limit=2) == ([], cursor)  # nothing new: same cursor
    agent_id = listed[0]["target_id"]
    assert client.delete(f"/v1/agents/{agent_id}", headers=tenant.auth).status_code == 204
    new, newer_cursor = follow(client, tenant, cursor, limit=2)
    assert len(new) == 1 and new[0] > ids[-1] and newer_cursor != cursor
    assert pull(client, tenant, after=newer_cursor) == ([], newer_cursor)

    theirs, _ = follow(client, other, None, limit=50)
    assert not set(theirs) & set(ids + new)


def test_only_owners_and_admins_export_and_bad_cursors_are_422(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    for role in ("viewer", "developer"):
        lesser = credential(client, tenant, role, "key")
        assert client.get(EXPORT, headers=lesser).status_code == 403
    admin = credential(client, tenant, "admin", "key")
    assert client.get(EXPORT, headers=admin).status_code == 200
    for bad in ("nope", "Y2FsX3g", "%00", "a" * 201):
        response = client.get(EXPORT, params={"after": bad}, headers=tenant.auth)
        assert response.status_code == 422, f"{bad}: {response.text}"
    for limit in (0, 1001):
        assert client.get(EXPORT, params={"limit": limit}, headers=tenant.auth).status_code == 422


@pytest.fixture
def delayed(database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    """A second app on the database of ``client`` (which ``new_tenant`` uses), holding
    back the last five minutes of events."""
    settings = make_settings(database_url, tmp_path, audit_export_delay_s=300)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_events_younger_than_the_delay_are_held_back(
    delayed: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    assert delayed.get("/v1/audit-events", headers=tenant.auth).json()["items"]  # listed at once
    events, cursor = pull(delayed, tenant)
    assert events == []
    assert pull(delayed, tenant, after=cursor) == ([], cursor)
