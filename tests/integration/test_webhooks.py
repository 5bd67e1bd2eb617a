"""Webhooks end to end: the API, the outbox, the relay, the fan-out and the sender, over
SQLite and PostgreSQL, delivering to a real HTTP receiver on loopback (the deployment
setting that allows private networks is on, as in development)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from receiver import Answer, Receiver
from test_api_agents import acme
from walker import a_call

from conftest import ADMIN_TOKEN, PASSWORD, Tenant, make_settings
from voxplane.api.app import create_app
from voxplane.events.signing import SIGNATURE_HEADER, verify
from voxplane.observability.metrics import REGISTRY

FAST_RETRIES = {"webhook_allow_private_networks": True, "webhook_retry_base_s": 0.05}


def wait_for(check: Callable[[], Any], *, timeout_s: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("the condition did not hold in time")


def app_client(database_url: str, data: Path, **more: object) -> TestClient:
    return TestClient(create_app(make_settings(database_url, data, **more)))


@pytest.fixture
def client(database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    with app_client(database_url, tmp_path, **FAST_RETRIES) as test_client:
        yield test_client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def deliveries(client: TestClient, tenant: Tenant, hook_id: str, **query: str) -> list[Any]:
    response = client.get(f"/v1/webhooks/{hook_id}/deliveries", params=query, headers=tenant.auth)
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items


def attempts(outcome: str) -> float:
    """Webhook attempts with ``outcome`` this process counted (its metrics registry)."""
    found = REGISTRY.get_sample_value("voxplane_webhook_attempts_total", {"outcome": outcome})
    return found or 0.0


def subscribe(client: TestClient, tenant: Tenant, url: str, events: list[str]) -> dict[str, Any]:
    response = client.post("/v1/webhooks", json={"url": url, "events": events}, headers=tenant.auth)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_endpoints_crud_secret_shown_once_and_rotated_with_overlap(
    client: TestClient, new_tenant: Callable[..., Tenant], receiver: Receiver
) -> None:
    tenant = new_tenant()
    hook = subscribe(client, tenant, receiver.url, ["agent.updated"])
    assert hook["secret"].startswith("whsec_")
    read = client.get(f"/v1/webhooks/{hook['id']}", headers=tenant.auth).json()
    listed = client.get("/v1/webhooks", headers=tenant.auth).json()["items"]
    for shown in (read, *listed):
        assert "secret" not in shown and hook["secret"] not in json.dumps(shown)
    assert read["events"] == ["agent.updated"] and read["previous_secret_expires_at"] is None

    rotated = client.post(
        f"/v1/webhooks/{hook['id']}/rotate-secret", json={"overlap_s": 3600}, headers=tenant.auth
    )
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret != hook["secret"] and rotated.json()["previous_secret_expires_at"]

    # During the overlap, both secrets sign: a receiver with either one verifies.
    assert client.post("/v1/agents", json=acme(), headers=tenant.auth).status_code == 201
    got = wait_for(lambda: receiver.received)[0]
    header = got.headers[SIGNATURE_HEADER]
    assert header.count("v1=") == 2
    for secret in (new_secret, hook["secret"]):
        assert verify(secret, header, got.body, now=int(time.time()))
    assert not verify("whsec_wrong", header, got.body, now=int(time.time()))

    patched = client.patch(
        f"/v1/webhooks/{hook['id']}", json={"enabled": False}, headers=tenant.auth
    )
    assert patched.status_code == 200 and patched.json()["enabled"] is False
    assert client.delete(f"/v1/webhooks/{hook['id']}", headers=tenant.auth).status_code == 204
    assert client.get(f"/v1/webhooks/{hook['id']}", headers=tenant.auth).status_code == 404


@pytest.mark.parametrize(
    ("url", "events"),
    [
        ("ftp://hooks.example.com/x", ["*"]),
        ("https://user:pw@hooks.example.com/x", ["*"]),
        ("https://169.254.169.254/latest/meta-data", ["*"]),
        ("http://[::ffff:169.254.169.254]/", ["*"]),
        ("http://0.0.0.0:8080/", ["*"]),
        ("https://hooks.example.com/x", ["call.exploded"]),
    ],
)
def test_bad_endpoints_are_422s_naming_the_field(
    client: TestClient, new_tenant: Callable[..., Tenant], url: str, events: list[str]
) -> None:
    tenant = new_tenant()
    response = client.post("/v1/webhooks", json={"url": url, "events": events}, headers=tenant.auth)
    assert response.status_code == 422, response.text
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields & {"url", "body.url", "events", "body.events"}, response.text


def test_loopback_and_private_urls_are_refused_unless_the_deployment_allows_them(
    database_url: str, tmp_path: Path
) -> None:

    with app_client(database_url, tmp_path) as strict:
        created = strict.post(
            "/v1/tenants",
            json={
                "name": f"strict-{time.time_ns()}",
                "email": "o@strict.test",
                "password": PASSWORD,
            },
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        auth = {"Authorization": f"Bearer {created.json()['api_key']}"}
        for url in (
            "http://127.0.0.1:9/x",
            "http://localhost/x",
            "https://10.1.2.3/",
            "http://[::1]/",
        ):
            response = strict.post("/v1/webhooks", json={"url": url}, headers=auth)
            assert response.status_code == 422, f"{url}: {response.text}"
            assert "address" in response.text
        public = strict.post(
            "/v1/webhooks", json={"url": "https://hooks.example.com/"}, headers=auth
        )
        assert public.status_code == 201, public.text


def test_a_receiver_that_fails_three_times_gets_the_event_with_valid_signatures(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    receiver = Receiver(lambda n: Answer(500, b"busy") if n < 3 else Answer(204, b""))
    before = {outcome: attempts(outcome) for outcome in ("retry", "delivered")}
    try:
        tenant = new_tenant()
        hook = subscribe(client, tenant, receiver.url, ["call.ended"])
        agent = client.post("/v1/agents", json=acme(), headers=tenant.auth).json()
        call = client.post("/v1/calls", json=a_call(agent["id"]), headers=tenant.auth).json()

        done = wait_for(lambda: deliveries(client, tenant, hook["id"], status="delivered"))
        assert len(done) == 1
        assert [a["status_code"] for a in done[0]["attempts"]] == [500, 500, 500, 204]
        assert done[0]["attempts"][0]["response"] == "busy"
        assert len(receiver.received) == 4
        for got in receiver.received:
            assert verify(
                hook["secret"], got.headers[SIGNATURE_HEADER], got.body, now=int(time.time())
            )
            event = json.loads(got.body)
            assert got.headers["Webhook-Id"] == event["id"] == done[0]["event_id"]
        event = json.loads(receiver.received[-1].body)
        assert event["type"] == "call.ended" and event["tenant_id"] == tenant.id
        assert event["data"]["call_id"] == call["id"]
        assert event["data"]["duration_s"] == 42.0 and event["data"]["turn_count"] == 2
        # the outcome counter (other tenants' deliveries may add to it meanwhile, not take)
        assert attempts("retry") >= before["retry"] + 3
        assert attempts("delivered") >= before["delivered"] + 1
    finally:
        receiver.close()


def test_a_receiver_that_always_fails_is_dead_lettered_then_replayed(
    database_url: str, tmp_path: Path
) -> None:
    healthy = False
    receiver = Receiver(lambda n: Answer(204, b"") if healthy else Answer(503, b"down"))
    window = {**FAST_RETRIES, "webhook_retry_window_s": 0.5}
    try:
        with app_client(database_url, tmp_path, **window) as short:
            tenant = _tenant(short)
            hook = subscribe(short, tenant, receiver.url, ["agent.updated"])
            assert short.post("/v1/agents", json=acme(), headers=tenant.auth).status_code == 201

            dead = wait_for(lambda: deliveries(short, tenant, hook["id"], status="dead"))
            assert len(dead) == 1 and dead[0]["attempt_count"] >= 2
            assert {a["status_code"] for a in dead[0]["attempts"]} == {503}
            assert all(a["error"] == "HTTP 503" for a in dead[0]["attempts"])
            tried = len(receiver.received)
            time.sleep(0.3)
            assert len(receiver.received) == tried  # dead: no more attempts

            healthy = True
            replay = short.post(
                f"/v1/webhooks/{hook['id']}/deliveries/{dead[0]['id']}/replay", headers=tenant.auth
            )
            assert replay.status_code == 202, replay.text
            assert replay.json()["status"] == "pending"
            done = wait_for(lambda: deliveries(short, tenant, hook["id"], status="delivered"))
            assert done[0]["id"] == dead[0]["id"]
            assert done[0]["attempts"][-1]["status_code"] == 204
            assert receiver.ids()[-1] == dead[0]["event_id"]  # the same event id again
    finally:
        receiver.close()


def test_filters_choose_the_events_and_other_tenants_get_nothing(
    client: TestClient, new_tenant: Callable[..., Tenant], receiver: Receiver
) -> None:
    mine, theirs = new_tenant(), new_tenant()
    subscribe(client, mine, receiver.url, ["number.updated"])
    agent = client.post("/v1/agents", json=acme(), headers=mine.auth).json()  # not wanted
    other_agent = client.post("/v1/agents", json=acme(), headers=theirs.auth).json()
    client.post("/v1/phone-numbers", json={"number": "+14155550199"}, headers=theirs.auth)
    number = client.post(
        "/v1/phone-numbers",
        json={"number": f"+1415{time.time_ns() % 10**7:07d}", "agent_id": agent["id"]},
        headers=mine.auth,
    ).json()
    got = wait_for(lambda: receiver.received)
    time.sleep(0.5)  # anything else would have come by now
    assert len(receiver.received) == 1
    event = json.loads(got[0].body)
    assert event["type"] == "number.updated" and event["tenant_id"] == mine.id
    assert event["data"] == {
        "number_id": number["id"],
        "number": number["number"],
        "agent_id": agent["id"],
        "label": None,
        "change": "created",
    }
    assert other_agent["id"] not in got[0].body.decode()


def _tenant(client: TestClient) -> Tenant:

    name = f"t-{time.time_ns()}"
    email = f"owner@{name}.test"
    response = client.post(
        "/v1/tenants",
        json={"name": name, "email": email, "password": PASSWORD},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return Tenant(body["tenant_id"], body["user_id"], body["api_key"], email, PASSWORD)


def test_a_hanging_receiver_does_not_hold_up_another_tenants_deliveries(
    database_url: str, tmp_path: Path
) -> None:
    release = threading.Event()

    def hang(n: int) -> Answer:
        release.wait(20)  # inside the request: the sender waits for the answer
        return Answer(204, b"")

    hanging = Receiver(hang)
    healthy = Receiver()
    narrow = {**FAST_RETRIES, "webhook_concurrency": 6}  # 4 per endpoint at most
    try:
        with app_client(database_url, tmp_path, **narrow) as client:
            slow, fast = _tenant(client), _tenant(client)
            subscribe(client, slow, hanging.url, ["agent.updated"])
            subscribe(client, fast, healthy.url, ["agent.updated"])
            for _ in range(8):  # more than every slot
                assert client.post("/v1/agents", json=acme(), headers=slow.auth).status_code == 201
            wait_for(lambda: len(hanging.received) >= 4)
            assert client.post("/v1/agents", json=acme(), headers=fast.auth).status_code == 201
            wait_for(lambda: healthy.received)  # through, while the slow receiver hangs
            assert len(hanging.received) == 4  # never more than its share in flight (per process)
            release.set()
            wait_for(lambda: len(set(hanging.ids(accepted_only=True))) == 8)
    finally:
        release.set()
        hanging.close()
        healthy.close()
