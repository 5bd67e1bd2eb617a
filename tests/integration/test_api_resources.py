"""Phone numbers, calls, usage and the audit log over the API, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from conftest import ADMIN_TOKEN, Tenant
from fastapi.testclient import TestClient

from voxplane.errors import LimitError

EXAMPLE = Path(__file__).parents[2] / "examples" / "agents" / "acme-dental.yaml"


def _agent(client: TestClient, tenant: Tenant) -> str:
    response = client.post(
        "/v1/agents", json=yaml.safe_load(EXAMPLE.read_text()), headers=tenant.auth
    )
    assert response.status_code == 201, response.text
    agent_id: str = response.json()["id"]
    return agent_id


def _number() -> str:
    return "+1415555" + "".join(secrets.choice("0123456789") for _ in range(4))


def _call(agent_id: str, started: datetime, **more: Any) -> dict[str, Any]:
    return {
        "agent_id": agent_id,
        "transport": "sip",
        "from_number": "+14155550199",
        "to_number": "+15550100",
        "started_at": started.isoformat(),
        "ended_at": (started + timedelta(seconds=30)).isoformat(),
        "end_reason": "caller_hangup",
        "usage": {"audio_s": 12.5, "stt_s": 12.0, "tts_chars": 300, "llm_tokens": 0},
        "turns": [{"role": "user", "text": "hello", "start_ms": 0, "end_ms": 900}],
        "metrics": [
            {"turn": 1, "stt_ms": 400, "brain_ms": 1, "tts_ms": 60, "voice_to_voice_ms": 480}
        ],
        **more,
    }


def test_phone_numbers_are_e164_unique_and_route_to_their_agent(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    a, b = new_tenant(), new_tenant()
    agent_id = _agent(client, a)
    number = _number()
    spaced = f"{number[:2]} {number[2:5]} {number[5:8]} {number[8:]}"
    created = client.post(
        "/v1/phone-numbers", json={"number": spaced, "agent_id": agent_id}, headers=a.auth
    )
    assert created.status_code == 201, created.text
    assert created.json()["number"] == number  # normalised to E.164

    taken = client.post("/v1/phone-numbers", json={"number": number}, headers=b.auth)
    assert taken.status_code == 409  # unique on the whole platform

    for bad in ("4155550123", "+1", "+999999999999999999", "not a number", "+1911"):
        response = client.post("/v1/phone-numbers", json={"number": bad}, headers=a.auth)
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["errors"][0]["field"] == "number"

    route = client.portal.call(client.app.state.platform.numbers.route, number)  # type: ignore[attr-defined]
    assert route is not None
    assert (route.tenant_id, route.agent_id, route.agent_version) == (a.id, agent_id, 1)

    # Deleting the agent stops the routing; the number stays, unassigned.
    assert client.delete(f"/v1/agents/{agent_id}", headers=a.auth).status_code == 204
    assert client.portal.call(client.app.state.platform.numbers.route, number) is None  # type: ignore[attr-defined]
    listed = client.get("/v1/phone-numbers", headers=a.auth).json()["items"]
    assert [(n["number"], n["agent_id"]) for n in listed] == [(number, None)]


def test_calls_are_listed_newest_first_filtered_and_paginated(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    agent_id = _agent(client, tenant)
    base = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    ids = []
    for hour in (0, 3, 1, 2):  # recorded out of order
        reason = "transfer" if hour == 2 else "caller_hangup"
        body = _call(agent_id, base + timedelta(hours=hour), end_reason=reason)
        response = client.post("/v1/calls", json=body, headers=tenant.auth)
        assert response.status_code == 201, response.text
        ids.append((hour, response.json()["id"]))
    newest_first = [call_id for _, call_id in sorted(ids, reverse=True)]

    first = client.get("/v1/calls?limit=3", headers=tenant.auth).json()
    second = client.get(
        f"/v1/calls?limit=3&cursor={first['next_cursor']}", headers=tenant.auth
    ).json()
    assert [c["id"] for c in first["items"] + second["items"]] == newest_first
    assert second["next_cursor"] is None

    transfers = client.get("/v1/calls?end_reason=transfer", headers=tenant.auth).json()["items"]
    assert [c["id"] for c in transfers] == [dict(ids)[2]]
    after = (base + timedelta(hours=2)).isoformat().replace("+00:00", "Z")
    recent = client.get("/v1/calls", params={"started_after": after}, headers=tenant.auth).json()
    assert [c["id"] for c in recent["items"]] == newest_first[:2]

    call = client.get(f"/v1/calls/{newest_first[0]}", headers=tenant.auth).json()
    assert call["duration_s"] == 30.0
    assert call["agent_version"] == 1
    assert call["from_number"] != "+14155550199"  # the default PII policy masks callers
    assert call["from_number"].endswith("99")
    assert call["turns"][0]["text"] == "hello"


def test_call_records_are_checked(client: TestClient, new_tenant: Callable[..., Tenant]) -> None:
    a, b = new_tenant(), new_tenant()
    agent_id = _agent(client, a)
    start = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    foreign = client.post("/v1/calls", json=_call(agent_id, start), headers=b.auth)
    assert foreign.status_code == 422
    assert foreign.json()["errors"][0]["field"] == "agent_id"
    backwards = _call(agent_id, start)
    backwards["ended_at"] = (start - timedelta(seconds=1)).isoformat()
    assert client.post("/v1/calls", json=backwards, headers=a.auth).status_code == 422
    no_version = client.post(
        "/v1/calls", json=_call(agent_id, start, agent_version=7), headers=a.auth
    )
    assert no_version.status_code == 422
    assert no_version.json()["errors"][0]["field"] == "agent_version"
    assert client.get("/v1/calls", headers=a.auth).json()["items"] == []


def test_pii_policy_keep_stores_numbers_as_given(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant(pii_policy="keep")
    agent_id = _agent(client, tenant)
    body = _call(agent_id, datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    call = client.post("/v1/calls", json=body, headers=tenant.auth).json()
    assert call["from_number"] == "+14155550199"


def test_usage_adds_up_per_day_and_exports_csv(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    agent_id = _agent(client, tenant)
    day1 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    for started in (day1, day1 + timedelta(hours=2), day1 + timedelta(days=1)):
        assert (
            client.post("/v1/calls", json=_call(agent_id, started), headers=tenant.auth).status_code
            == 201
        )

    days = client.get("/v1/usage?from=2026-11-19&to=2026-11-22", headers=tenant.auth).json()
    assert [(d["day"], d["calls"], d["call_seconds"], d["tts_chars"]) for d in days] == [
        ("2026-11-20", 2, 60.0, 600),
        ("2026-11-21", 1, 30.0, 300),
    ]
    exported = client.get("/v1/usage/export.csv?from=2026-11-19&to=2026-11-22", headers=tenant.auth)
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["tenant_id"], r["day"], r["calls"], r["audio_s"]) for r in rows] == [
        (tenant.id, "2026-11-20", "2", "25.0"),
        (tenant.id, "2026-11-21", "1", "12.5"),
    ]
    backwards = client.get("/v1/usage?from=2026-11-22&to=2026-11-19", headers=tenant.auth)
    assert backwards.status_code == 422


def test_every_mutation_is_audited_with_actor_and_request(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    agent_id = _agent(client, tenant)
    response = client.put(
        f"/v1/agents/{agent_id}",
        json=yaml.safe_load(EXAMPLE.read_text()),
        headers={**tenant.auth, "X-Request-ID": "req-audit-1"},
    )
    assert response.status_code == 200
    events = client.get("/v1/audit-events", headers=tenant.auth).json()["items"]
    actions = [e["action"] for e in events]
    assert actions[:2] == ["agent.update", "agent.create"]
    assert {"tenant.create", "api_key.create"} <= set(actions)
    update = events[0]
    assert update["target_id"] == agent_id
    assert update["actor_type"] == "api_key"
    assert update["request_id"] == "req-audit-1"
    assert update["details"] == {"version": 2}
    only = client.get("/v1/audit-events?action=agent.create", headers=tenant.auth).json()["items"]
    assert [e["action"] for e in only] == ["agent.create"]
    # Append-only: the API has no way to change or remove an event.
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths["/v1/audit-events"]) == {"get"}


def test_platform_admin_sets_limits_and_the_tenant_sees_them(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    patched = client.patch(
        f"/v1/tenants/{tenant.id}",
        json={"limits": {"max_concurrent_calls": 3, "retention_days": 7}},
        headers=admin,
    )
    assert patched.status_code == 200, patched.text
    own = client.get("/v1/tenant", headers=tenant.auth).json()
    assert (own["max_concurrent_calls"], own["retention_days"]) == (3, 7)
    assert client.patch(f"/v1/tenants/{tenant.id}", json={}, headers=tenant.auth).status_code == 401
    suspended = client.patch(
        f"/v1/tenants/{tenant.id}", json={"status": "suspended"}, headers=admin
    )
    assert suspended.status_code == 200
    assert client.get("/v1/agents", headers=tenant.auth).status_code == 403


def test_retention_purge_removes_only_calls_past_each_tenants_window(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    short, long = new_tenant(retention_days=7), new_tenant(retention_days=90)
    now = datetime.now(UTC)
    kept, gone = {}, {}
    for tenant in (short, long):
        agent_id = _agent(client, tenant)
        for age, into in ((10, gone), (1, kept)):
            body = _call(agent_id, now - timedelta(days=age))
            response = client.post("/v1/calls", json=body, headers=tenant.auth)
            into.setdefault(tenant.id, []).append(response.json()["id"])
    platform = client.app.state.platform  # type: ignore[attr-defined]
    removed = client.portal.call(platform.calls.purge_expired, now)
    assert removed >= 1
    short_ids = [c["id"] for c in client.get("/v1/calls", headers=short.auth).json()["items"]]
    long_ids = [c["id"] for c in client.get("/v1/calls", headers=long.auth).json()["items"]]
    assert short_ids == kept[short.id]
    assert sorted(long_ids) == sorted(kept[long.id] + gone[long.id])


def test_admission_stops_when_the_months_call_minutes_are_used(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant(monthly_call_minutes=1)
    platform = client.app.state.platform  # type: ignore[attr-defined]
    lease = client.portal.call(platform.calls.admit, tenant.id, "worker-1/call-1")
    client.portal.call(platform.calls.finish, lease)
    agent_id = _agent(client, tenant)
    now = datetime.now(UTC)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    body = _call(agent_id, max(now - timedelta(minutes=5), month_start))  # 30 s this month
    for _ in range(2):
        assert client.post("/v1/calls", json=body, headers=tenant.auth).status_code == 201
    try:
        client.portal.call(platform.calls.admit, tenant.id, "worker-1/call-2")
    except LimitError as error:
        assert "call minutes" in str(error)
        assert error.retry_after_s > 0
    else:
        raise AssertionError("a tenant past its monthly minutes was admitted")
