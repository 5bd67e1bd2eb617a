"""Limits at the edge: request rates (memory and Redis), call quotas, body size, error shapes.

Rate tests run against both limiter backends: each parametrization of ``settings`` below
builds the app with its own ``redis_url``; unique tenant ids keep the Redis keys apart.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from anyio.from_thread import BlockingPortal
from fastapi.testclient import TestClient

from conftest import ADMIN_TOKEN, Tenant, make_settings
from voxplane.errors import LimitError
from voxplane.services.platform import Platform
from voxplane.sessions import BatchingRateLimiter, MemoryRateLimiter, RedisRateLimiter
from voxplane.settings import Settings

REDIS = "redis://127.0.0.1:6379/0"
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"
PROBLEM = "application/problem+json"
AMQP = "amqp://guest:guest@127.0.0.1:5672/"
BACKENDS = pytest.mark.parametrize(
    "settings",
    [{}, {"redis_url": REDIS, "amqp_url": AMQP}],
    ids=["memory", "redis-rabbitmq"],
    indirect=True,
)


@pytest.fixture
def settings(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Settings:
    """The conftest settings, plus whatever a test parametrizes indirectly."""
    more: dict[str, Any] = getattr(request, "param", {})
    return make_settings(database_url, tmp_path, **more)


def _portal(client: TestClient) -> BlockingPortal:
    assert client.portal is not None, "the client's lifespan is not entered"
    return client.portal


def _platform(client: TestClient) -> Platform:
    platform: Platform = client.app.state.platform  # type: ignore[attr-defined]
    return platform


def _assert_problem(response: httpx2.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert "Traceback" not in response.text
    return body


# --- request rates -------------------------------------------------------------------


@BACKENDS
def test_a_tenant_over_its_burst_gets_429_and_others_do_not(
    client: TestClient, new_tenant: Callable[..., Tenant], settings: Settings
) -> None:
    # one token a minute refills: however slow the machine, none comes back mid-test
    tenant = new_tenant(rate_per_minute=1, rate_burst=5)
    other = new_tenant(rate_per_minute=1, rate_burst=5)
    remaining = []
    for _ in range(5):
        response = client.get("/v1/agents", headers=tenant.auth)
        assert response.status_code == 200, response.text
        assert response.headers["RateLimit-Limit"] == "5"
        remaining.append(int(response.headers["RateLimit-Remaining"]))
    assert remaining == [4, 3, 2, 1, 0]

    refused = client.get("/v1/agents", headers=tenant.auth)
    body = _assert_problem(refused, 429)
    assert body["title"] == "Too many requests"
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["RateLimit-Limit"] == "5"
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert int(refused.headers["RateLimit-Reset"]) >= 1

    unaffected = client.get("/v1/agents", headers=other.auth)
    assert unaffected.status_code == 200, unaffected.text
    assert unaffected.headers["RateLimit-Remaining"] == "4"
    # the backend configured is the one that counted
    limiter = _platform(client).backends.limiter
    if settings.redis_url is None:
        assert isinstance(limiter, MemoryRateLimiter)
    else:  # Redis behind in-process loans, which a bucket this small never makes
        assert isinstance(limiter, BatchingRateLimiter)
        assert isinstance(limiter.shared, RedisRateLimiter)
        assert limiter.local_decisions == 0


@BACKENDS
def test_a_key_with_its_own_rate_is_throttled_alone(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    created = client.post(
        "/v1/api-keys",
        json={"name": "slow", "role": "developer", "rate_per_minute": 2},
        headers=tenant.auth,
    )
    assert created.status_code == 201, created.text
    slow = {"Authorization": f"Bearer {created.json()['secret']}"}

    for expected in (1, 0):
        response = client.get("/v1/agents", headers=slow)
        assert response.status_code == 200, response.text
        assert response.headers["RateLimit-Limit"] == "2"  # the key's bucket is the tighter
        assert response.headers["RateLimit-Remaining"] == str(expected)
    refused = client.get("/v1/agents", headers=slow)
    _assert_problem(refused, 429)
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["RateLimit-Limit"] == "2"

    # the tenant's other key is not throttled with it
    for _ in range(3):
        assert client.get("/v1/agents", headers=tenant.auth).status_code == 200


# --- concurrent calls ----------------------------------------------------------------


@BACKENDS
def test_concurrent_calls_are_capped_and_finishing_frees_a_slot(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant(max_concurrent_calls=2)
    other = new_tenant(max_concurrent_calls=2)
    portal, calls = _portal(client), _platform(client).calls

    first = portal.call(calls.admit, tenant.id, "worker-1:call-1")
    second = portal.call(calls.admit, tenant.id, "worker-1:call-2")
    assert portal.call(calls.active, tenant.id) == 2
    renewed = portal.call(calls.keep_alive, second)  # a running call renews its lease
    assert renewed is not None
    assert renewed.lease_id == second.lease_id
    assert renewed.expires_at >= second.expires_at
    with pytest.raises(LimitError) as refused:
        portal.call(calls.admit, tenant.id, "worker-1:call-3")
    assert refused.value.retry_after_s > 0
    portal.call(calls.admit, other.id, "worker-2:call-1")  # quotas are per tenant

    portal.call(calls.finish, first)
    assert portal.call(calls.keep_alive, first) is None  # a finished call's lease is gone
    assert portal.call(calls.active, tenant.id) == 1
    portal.call(calls.admit, tenant.id, "worker-1:call-3")
    assert portal.call(calls.active, tenant.id) == 2


# --- request bodies and error shapes -------------------------------------------------


def test_an_oversized_body_is_413_and_the_server_keeps_serving(
    client: TestClient, new_tenant: Callable[..., Tenant], settings: Settings
) -> None:
    tenant = new_tenant()
    too_big = b"{" + b" " * settings.max_body_bytes + b"}"
    headers = {**tenant.auth, "content-type": "application/json"}

    declared = client.post("/v1/agents", content=too_big, headers=headers)
    assert declared.request.headers["content-length"] == str(len(too_big))
    body = _assert_problem(declared, 413)
    assert str(settings.max_body_bytes) in body["detail"]

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(too_big), 65_536):
            yield too_big[start : start + 65_536]

    streamed = client.post("/v1/agents", content=chunks(), headers=headers)
    assert "content-length" not in streamed.request.headers
    _assert_problem(streamed, 413)

    yaml_streamed = client.post(  # a route that reads the raw body itself
        "/v1/agents/import",
        content=chunks(),
        headers={**tenant.auth, "content-type": "application/yaml"},
    )
    _assert_problem(yaml_streamed, 413)

    assert client.get("/healthz").status_code == 200
    assert client.get("/v1/agents", headers=tenant.auth).status_code == 200


def test_bad_requests_are_problem_json_without_internals(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    malformed = client.post(
        "/v1/api-keys",
        content=b'{"name": "k", "role": ',
        headers={**tenant.auth, "content-type": "application/json"},
    )
    body = _assert_problem(malformed, 422)
    assert body["errors"], body

    unknown_field = client.post(
        "/v1/api-keys", json={"name": "k", "colour": "blue"}, headers=tenant.auth
    )
    body = _assert_problem(unknown_field, 422)
    assert [e["field"] for e in body["errors"]] == ["body.colour"]
    assert "body.colour" in body["detail"]

    body = _assert_problem(client.get("/v1/nonesuch", headers=tenant.auth), 404)
    assert body["title"] == "Not found"
    wrong_method = client.put("/healthz")
    body = _assert_problem(wrong_method, 405)
    assert body["title"] == "Method not allowed"
    assert "GET" in wrong_method.headers["allow"]
    # a missing resource of a real route is the same shape
    _assert_problem(client.get("/v1/agents/agt_nonesuch", headers=tenant.auth), 404)


# --- probes --------------------------------------------------------------------------


@BACKENDS
def test_probes_report_ok_when_every_backend_answers(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {
        "status": "ready",
        "draining": False,
        "checks": {"database": "ok", "sessions": "ok", "events": "ok"},
    }


@pytest.mark.parametrize(("models", "status"), [("loading", 503), ("failed", 503), ("ok", 200)])
def test_readyz_waits_for_the_local_models_a_worker_loads(
    client: TestClient, models: str, status: int
) -> None:
    client.app.state.models = models  # type: ignore[attr-defined]  # as `serve` sets it
    ready = client.get("/readyz")
    assert ready.status_code == status, ready.text
    assert ready.json()["checks"] == {
        "database": "ok",
        "sessions": "ok",
        "events": "ok",
        "models": models,
    }


@pytest.mark.parametrize("settings", [{"redis_url": UNREACHABLE_REDIS}], indirect=True)
def test_an_unreachable_redis_makes_readyz_503_but_not_healthz(client: TestClient) -> None:
    ready = client.get("/readyz")
    assert ready.status_code == 503, ready.text
    body = ready.json()
    assert body["status"] == "unavailable"
    assert body["checks"] == {"database": "ok", "sessions": "unreachable", "events": "ok"}
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    "settings", [{"amqp_url": "amqp://guest:guest@127.0.0.1:1/"}], indirect=True
)
def test_an_unreachable_event_broker_makes_readyz_503(client: TestClient) -> None:
    ready = client.get("/readyz")
    assert ready.status_code == 503, ready.text
    assert ready.json()["checks"] == {"database": "ok", "sessions": "ok", "events": "unreachable"}


def test_password_guessing_is_slowed_per_email(
    client: TestClient, new_tenant: Callable[..., Tenant], monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant, other = new_tenant(), new_tenant()
    # The guesses land in one instant, as a fast guesser's would: a slow machine's argon2
    # time must not refill the bucket (1 token / 6 s) and let an 11th guess through.
    limiter = client.app.state.platform.backends.limiter  # type: ignore[attr-defined]
    assert isinstance(limiter, MemoryRateLimiter)
    frozen = time.monotonic()
    monkeypatch.setattr(limiter, "_clock", lambda: frozen)
    attempts = [
        client.post("/v1/auth/login", json={"email": tenant.email, "password": f"guess-{i}"})
        for i in range(11)
    ]
    assert [r.status_code for r in attempts] == [401] * 10 + [429]
    body = _assert_problem(attempts[-1], 429)
    assert "slow down" in body["detail"]
    assert int(attempts[-1].headers["Retry-After"]) >= 1
    # even the right password waits now; another account does not
    right = {"email": tenant.email, "password": tenant.password}
    assert client.post("/v1/auth/login", json=right).status_code == 429
    theirs = {"email": other.email, "password": other.password}
    assert client.post("/v1/auth/login", json=theirs).status_code == 200


# --- the platform admin --------------------------------------------------------------

ADMIN_RATE = {"default_rate_per_minute": 1, "default_rate_burst": 3}
"""One token a minute: nothing refills while the test runs, however loaded the machine."""


@pytest.mark.parametrize("settings", [ADMIN_RATE], ids=["burst-3"], indirect=True)
def test_the_platform_admin_api_is_rate_limited(client: TestClient) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    answers = [client.get("/v1/tenants", headers=admin) for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert [r.headers["RateLimit-Remaining"] for r in answers] == ["2", "1", "0", "0"]
    assert answers[0].headers["RateLimit-Limit"] == "3"
    _assert_problem(answers[-1], 429)
    assert int(answers[-1].headers["Retry-After"]) >= 1


def test_guessing_the_platform_admin_token_is_slowed(client: TestClient) -> None:
    # 30 at once, then 2 a second: bounded attempts reach a 429 unless each took ~0.5 s
    statuses = []
    for i in range(200):
        guess = client.get("/v1/tenants", headers={"Authorization": f"Bearer guess-{i}"})
        statuses.append(guess.status_code)
        if guess.status_code != 401:
            break
    assert statuses[-1] == 429, statuses
    assert len(statuses) > 30
    _assert_problem(guess, 429)
