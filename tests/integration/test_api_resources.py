"""Phone numbers, calls, usage and the audit log over the API, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from receiver import Receiver
from walker import (
    AUDIT_BODIES,
    AUDITED,
    BY_INVITEE,
    NOT_AUDITED,
    WRITES,
    Route,
    bearer,
    body_for,
    document_routes,
    is_platform_admin,
    make_estate,
    send,
)

from conftest import ADMIN_TOKEN, PASSWORD, Tenant, add_member, make_settings
from voxplane.errors import LimitError
from voxplane.services.outbound import OutboundDial, OutboundDialer
from voxplane.settings import Settings
from voxplane.store.ids import new_id

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
    negative = client.post(
        "/v1/calls", json=_call(agent_id, start, false_starts=-1), headers=a.auth
    )
    assert negative.status_code == 422
    assert negative.json()["errors"][0]["field"] == "body.false_starts"
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


def _walk_order(route: Route) -> tuple[int, bool, str]:
    """Creates, then updates, then deletes; the agent last (numbers route to it)."""
    method, path = route
    return ({"POST": 0, "PUT": 1, "PATCH": 1, "DELETE": 2}[method], "/agents" in path, path)


def _events(client: TestClient, auth: dict[str, str], action: str) -> list[dict[str, Any]]:
    page = client.get("/v1/audit-events", params={"action": action}, headers=auth)
    assert page.status_code == 200, page.text
    events: list[dict[str, Any]] = page.json()["items"]
    return events


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """As conftest's, with webhooks allowed to reach the receiver on loopback."""
    return make_settings(database_url, tmp_path, webhook_allow_private_networks=True)


@pytest.fixture(scope="module")
def hooks() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


def test_every_mutation_is_audited_with_actor_and_request(
    client: TestClient, new_tenant: Callable[..., Tenant], hooks: Receiver
) -> None:
    """Every write of the OpenAPI document, performed for real, leaves one audit event
    naming its action, its object, the credential that made it and the request id."""
    estate = make_estate(client, new_tenant(), hooks.url)
    # Placing a call needs a dialer (the SIP endpoint in serve): a scripted one answers here.
    platform = client.app.state.platform  # type: ignore[attr-defined]
    platform.outbound.dialer = ScriptedDialer()
    other = new_tenant()  # what the platform admin's writes change
    disabled = add_member(client, other, "viewer")  # the user the platform admin disables
    keys = client.get("/v1/api-keys", headers=estate.tenant.auth).json()["items"]
    me = next(k["id"] for k in keys if estate.tenant.api_key.startswith(k["prefix"]))
    writes = [r for r in document_routes(client) if r[0] in WRITES]
    unknown = [r for r in writes if r not in AUDITED | NOT_AUDITED | BY_INVITEE]
    assert not unknown, f"writes without an audit rule: {unknown}; add them to walker.AUDITED"

    walked = [r for r in sorted(writes, key=_walk_order) if r in AUDITED]
    for route in walked:
        action, target = AUDITED[route]
        request_id = f"req-{secrets.token_hex(6)}"
        platform = is_platform_admin(route[1])
        auth = bearer(ADMIN_TOKEN) if platform else estate.tenant.auth
        ids = {"tenant_id": other.id, "user_id": disabled["user_id"]} if platform else estate.ids
        body = AUDIT_BODIES[route](estate) if route in AUDIT_BODIES else body_for(route, estate)
        reply = send(client, route, {**auth, "X-Request-ID": request_id}, ids, body=body)
        assert reply.status_code in {200, 201, 202, 204}, f"{route}: {reply.text}"
        answer = reply.json() if reply.content else {}
        log = estate.tenant.auth
        if platform:  # the event is in the log of the tenant it changed
            log = bearer(answer["api_key"]) if "api_key" in answer else other.auth
        expected = target(estate if not platform else replace(estate, ids=ids), answer)
        # the platform admin's events carry no request id yet: found by their target
        mine = [
            e
            for e in _events(client, log, action)
            if (e["target_id"] == expected if platform else e["request_id"] == request_id)
        ]
        assert len(mine) == 1, f"{route}: {len(mine)} '{action}' events for its request"
        event = mine[0]
        assert event["target_id"] == expected, f"{route}: {event}"
        actor = ("platform", None) if platform else ("api_key", me)
        assert event["actor_type"] == actor[0], f"{route}: {event}"
        if actor[1] is not None:
            assert event["actor_id"] == actor[1], f"{route}: {event}"
    assert len(walked) == len(writes) - len(NOT_AUDITED) - len(BY_INVITEE)
    _invitee_writes_are_audited(client, estate.tenant, other)

    # Append-only: the API has no way to change or remove an event.
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths["/v1/audit-events"]) == {"get"}


class ScriptedDialer(OutboundDialer):
    """Takes every call it is asked to place and names it, dialling nothing."""

    async def dial(self, request: OutboundDial) -> str:
        return new_id("cal")


def _invitee_writes_are_audited(client: TestClient, tenant: Tenant, other: Tenant) -> None:
    """Accepting an invitation, as a new account (link token) or signed in as an existing
    one, is the invitee's own write: one event, by that user, with the request id."""
    newcomer = f"new-{secrets.token_hex(4)}@invitee.test"
    existing = add_member(client, other, "viewer")["email"]
    signed = client.post("/v1/auth/login", json={"email": existing, "password": PASSWORD})
    assert signed.status_code == 200, signed.text
    session = bearer(signed.json()["access_token"])
    for route, email in (
        (("POST", "/v1/invitations/accept"), newcomer),
        (("POST", "/v1/invitations/{invitation_id}/accept"), existing),
    ):
        invited = client.post("/v1/members", json={"email": email, "role": "viewer"},
                              headers=tenant.auth)  # fmt: skip
        assert invited.status_code == 201, invited.text
        invitation = invited.json()
        request_id = f"req-{secrets.token_hex(6)}"
        token_body = {"token": invitation["token"], "password": PASSWORD}
        body = token_body if "{" not in route[1] else None
        headers = {**(session if body is None else {}), "X-Request-ID": request_id}
        reply = send(client, route, headers, {"invitation_id": invitation["id"]}, body=body)
        assert reply.status_code == 200, f"{route}: {reply.text}"
        members = client.get("/v1/members", headers=tenant.auth, params={"limit": 200})
        (member,) = [m for m in members.json()["items"] if m["email"] == email]
        mine = [e for e in _events(client, tenant.auth, BY_INVITEE[route])
                if e["request_id"] == request_id]  # fmt: skip
        assert len(mine) == 1, f"{route}: {mine}"
        assert (mine[0]["target_id"], mine[0]["actor_type"]) == (member["id"], "user"), mine


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
    store = platform.recordings

    async def record(tenant_id: str, call_id: str, age_days: int) -> None:
        writer = await store.create(tenant_id, call_id, 16_000)
        await writer.write(bytes(640))
        await writer.commit()
        finished = (now - timedelta(days=age_days)).timestamp()
        os.utime(store.path(tenant_id, call_id), (finished, finished))

    for tenant in (short, long):
        for age, calls in ((10, gone), (1, kept)):
            client.portal.call(record, tenant.id, calls[tenant.id][0], age)
    removed = client.portal.call(platform.calls.purge_expired, now)
    assert removed >= 1
    short_ids = [c["id"] for c in client.get("/v1/calls", headers=short.auth).json()["items"]]
    long_ids = [c["id"] for c in client.get("/v1/calls", headers=long.auth).json()["items"]]
    assert short_ids == kept[short.id]
    assert sorted(long_ids) == sorted(kept[long.id] + gone[long.id])
    # The recordings go with their calls, by the same windows.
    recorded = {
        (tenant.id, call_id): client.portal.call(store.open, tenant.id, call_id) is not None
        for tenant, calls in ((short, gone), (short, kept), (long, gone), (long, kept))
        for call_id in calls[tenant.id]
    }
    assert recorded == {
        (short.id, gone[short.id][0]): False,
        (short.id, kept[short.id][0]): True,
        (long.id, gone[long.id][0]): True,
        (long.id, kept[long.id][0]): True,
    }


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


def test_a_call_record_keeps_provider_errors_and_barge_in_counters(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    agent_id = _agent(client, tenant)
    started = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    counters = {"soft_barge_ins": 3, "resumed_after_backchannel": 2}
    body = _call(agent_id, started, provider_errors={"stt": 2, "tts": 1}, **counters)
    made = client.post("/v1/calls", json=body, headers=tenant.auth)
    assert made.status_code == 201, made.text
    call = client.get(f"/v1/calls/{made.json()['id']}", headers=tenant.auth).json()
    assert call["provider_errors"] == {"stt": 2, "tts": 1}
    assert {k: call[k] for k in counters} == counters
    plain = client.post("/v1/calls", json=_call(agent_id, started), headers=tenant.auth).json()
    assert (plain["provider_errors"], plain["soft_barge_ins"]) == ({}, 0)
    for bad in ({"llm": 1}, {"stt": -1}, {"stt": 2**40}):
        refused = client.post(
            "/v1/calls", json=_call(agent_id, started, provider_errors=bad), headers=tenant.auth
        )
        assert refused.status_code == 422, (bad, refused.text)
        assert "provider_errors" in refused.text
