"""``/v1/analytics``: calls counted per outcome (from each call's post-call analysis), end
reason, agent and day, and latency percentiles; a tenant sees only its own calls."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from test_api_agents import acme
from walker import a_call

from conftest import Tenant


def record(
    client: TestClient,
    tenant: Tenant,
    agent_id: str,
    *,
    days_ago: int = 0,
    end_reason: str = "caller_hangup",
    success: bool | None = None,
    v2v: list[int] = (),  # type: ignore[assignment]
) -> dict[str, Any]:
    body = a_call(agent_id)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=days_ago, minutes=5)
    body["started_at"] = start.isoformat()
    body["ended_at"] = (start + timedelta(seconds=60)).isoformat()
    body["end_reason"] = end_reason
    body["metrics"] = [{"turn": i + 1, "voice_to_voice_ms": ms} for i, ms in enumerate(v2v)]
    if success is not None:
        body["analysis"] = {"fields": {"member_id": 4071}, "success": success}
    made = client.post("/v1/calls", json=body, headers=tenant.auth)
    assert made.status_code == 201, made.text
    return dict(made.json())


def test_outcomes_reasons_agents_days_and_latency(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant, other = new_tenant(), new_tenant()
    first = client.post("/v1/agents", json=acme(), headers=tenant.auth).json()["id"]
    second = client.post(
        "/v1/agents", json={**acme(), "name": "second"}, headers=tenant.auth
    ).json()["id"]
    kept = record(client, tenant, first, success=True, v2v=[400, 500, 600])
    assert kept["outcome"] == "success" and kept["analysis"]["fields"] == {"member_id": 4071}
    record(client, tenant, first, success=False, end_reason="agent_hangup", v2v=[700])
    record(client, tenant, second, days_ago=2, v2v=[900])
    record(client, tenant, second, days_ago=40)  # outside the default 30 days
    theirs = client.post("/v1/agents", json=acme(), headers=other.auth).json()["id"]
    record(client, other, theirs, success=True, v2v=[10])

    found = client.get("/v1/analytics", headers=tenant.auth)
    assert found.status_code == 200, found.text
    summary = found.json()
    assert summary["calls"] == 3 and summary["minutes"] == 3.0
    assert summary["outcomes"] == {"success": 1, "failure": 1, "unknown": 1}
    assert summary["end_reasons"] == {"agent_hangup": 1, "caller_hangup": 2}
    by_agent = {a["agent_id"]: a for a in summary["agents"]}
    assert by_agent[first]["calls"] == 2 and by_agent[second]["calls"] == 1
    assert by_agent[first]["outcomes"] == {"success": 1, "failure": 1, "unknown": 0}
    assert [d["calls"] for d in summary["days"]] == [1, 2] and summary["days_complete"]
    v2v = summary["latency_ms"]["voice_to_voice"]
    assert v2v == {"p50": 600.0, "p95": 900.0, "turns": 5}  # nearest rank of 400..900
    assert summary["latency_ms"]["brain"] == {"p50": None, "p95": None, "turns": 0}
    assert summary["latency_calls"] == 3

    since = (datetime.now(UTC) - timedelta(days=60)).date()
    one = client.get(f"/v1/analytics?agent_id={second}&from={since}", headers=tenant.auth)
    assert one.json()["calls"] == 2 and one.json()["outcomes"]["unknown"] == 2
    foreign = client.get(f"/v1/analytics?agent_id={theirs}", headers=tenant.auth).json()
    assert foreign["calls"] == 0 and foreign["agents"] == []


def test_a_bad_window_is_a_clear_422(client: TestClient, new_tenant: Callable[..., Tenant]) -> None:
    tenant = new_tenant()
    backwards = client.get("/v1/analytics?from=2026-02-01&to=2026-01-01", headers=tenant.auth)
    assert backwards.status_code == 422 and "'to' is before 'from'" in backwards.text
    too_long = client.get("/v1/analytics?from=2020-01-01&to=2026-01-01", headers=tenant.auth)
    assert too_long.status_code == 422 and "at most 366 days" in too_long.text
    assert client.get("/v1/analytics?from=yesterday", headers=tenant.auth).status_code == 422
    assert client.get("/v1/analytics").status_code == 401
