"""Property-based fuzz of the API against its own OpenAPI document (schemathesis).

Every operation gets generated requests, valid and invalid (schemathesis's positive and
negative modes), through the real app over SQLite and over PostgreSQL, authenticated as a
tenant owner (or as the platform admin on ``/v1/tenants``). No response may be a 5xx, each
must match the document (a documented status, its content type and its schema), and a
request the document forbids must be refused: request bodies are strict, so "0.5" is not
coerced to a number nor false to 0. Bounded and derandomized, so CI runs the same few
thousand requests each time; set ``VOXPLANE_FUZZ_EXAMPLES`` (e.g. 500) for a deeper local run.
"""

from __future__ import annotations

import json
import math
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import settings
from schemathesis.checks import not_a_server_error
from schemathesis.config._checks import (
    NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES,
    NegativeDataRejectionConfig,
)
from schemathesis.generation.case import Case
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from test_api_agents import EXAMPLE, acme

from conftest import ADMIN_TOKEN, PASSWORD, Tenant, make_settings
from voxplane.api.app import create_app

EXAMPLES = int(os.environ.get("VOXPLANE_FUZZ_EXAMPLES", "20"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,  # what the document forbids must be refused, not coerced
]
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

# The document only: building an app opens nothing (the platform opens in its lifespan).
schema = schemathesis.openapi.from_dict(
    create_app(make_settings("sqlite+aiosqlite://", Path("unused"))).openapi()
)
# A refusal of negative data may also be a 413: a body over the size limit.
schema.config.checks.negative_data_rejection = NegativeDataRejectionConfig(
    expected_statuses=[*NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES, "413"]
)


@dataclass(frozen=True)
class Fuzzed:
    app: FastAPI
    owner: dict[str, str]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def fuzzed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Fuzzed:
    """An app over a migrated SQLite file holding one tenant (with an agent) to fuzz as.

    Two apps share the file. The setup app runs in a TestClient, whose own event loop opens
    and closes its platform. The fuzzed app opens its platform in its ASGI lifespan, which
    schemathesis drives: its ASGI transport starts the lifespan in schemathesis's event
    loop thread at the first request of each test, and its pytest plugin ends it when that
    test tears down. The platform thus always lives in the loop that serves its requests,
    exactly as under ``voxplane serve``; nothing is shared across loops but the file.
    """
    data = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite+aiosqlite:///{data / 'voxplane.db'}"
    if request.param == "postgres":
        url = request.getfixturevalue("pg_url")
    setup = make_settings(url, data)
    with TestClient(create_app(setup)) as client:
        limits = {"rate_per_minute": 1_000_000, "rate_burst": 1_000_000}  # never 429 here
        name = f"fuzz-{secrets.token_hex(4)}"
        email = f"owner@{name}.test"
        body = {"name": name, "email": email, "password": PASSWORD, "limits": limits}
        created = client.post("/v1/tenants", json=body, headers=ADMIN)
        assert created.status_code == 201, created.text
        owner = {"Authorization": f"Bearer {created.json()['api_key']}"}
        agent = client.post("/v1/agents", json=acme(), headers=owner)
        assert agent.status_code == 201, agent.text
    app = create_app(setup.model_copy(update={"run_migrations": False}))
    return Fuzzed(app, owner)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
)
def test_api_matches_its_openapi_and_never_fails(case: Case, fuzzed: Fuzzed) -> None:
    admin_route = case.path.startswith(("/v1/tenants", "/v1/users/"))
    headers = ADMIN if admin_route else fuzzed.owner
    case.call_and_validate(headers=headers, checks=CHECKS, app=fuzzed.app)


def _raw(value: object) -> bytes:
    return json.dumps(value).encode()  # writes NaN, and lone surrogates as \ud800 escapes


def test_values_the_databases_cannot_store_are_422s(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    """What the fuzz cannot see on SQLite, which stores nearly anything: PostgreSQL refuses
    NUL in text, 64-bit numbers in INTEGER columns; neither takes a lone surrogate, a NaN
    in JSON, a naive datetime or one out of range in UTC. Each was a 500."""
    tenant = new_tenant()
    agent = client.post("/v1/agents", json=acme(), headers=tenant.auth)
    assert agent.status_code == 201, agent.text
    call = {
        "agent_id": agent.json()["id"],
        "transport": "simulated",
        "started_at": "2024-05-01T10:00:00Z",
        "ended_at": "2024-05-01T10:01:00Z",
        "end_reason": "caller_hangup",
    }
    yaml_nul = EXAMPLE.read_bytes().replace(b"name: acme-dental", b'name: "acme\\0dental"')

    def calling(**more: object) -> bytes:
        return _raw({**call, **more})

    def credential(name: str) -> bytes:
        return _raw({"name": name, "provider": "openai", "secret": "sk"})

    turn = {"role": "user", "text": "\0", "start_ms": 0, "end_ms": 1}
    minutes = {"limits": {"monthly_call_minutes": 2**40}}
    cases: list[tuple[str, str, bytes | None, str]] = [
        ("POST", "/v1/credentials", credential("a\0"), "body.name"),
        ("POST", "/v1/credentials", credential("\ud800"), "body.name"),
        ("POST", "/v1/members", _raw({"email": "a\0@b.test", "role": "viewer"}), "body.email"),
        ("POST", "/v1/auth/login", _raw({"email": "a\0@b.test", "password": "x"}), "body.email"),
        ("POST", "/v1/agents", _raw({**acme(), "name": "acme\0"}), "body.name"),
        ("POST", "/v1/agents", _raw({**acme(), "description": "\ud800"}), "body.description"),
        (
            "POST",
            "/v1/agents",
            _raw({**acme(), "turn": {"end_of_speech_ms": math.nan}}),
            "body.turn.end_of_speech_ms",
        ),
        ("POST", "/v1/agents/import", yaml_nul, "body.name"),
        ("POST", "/v1/calls", calling(started_at="2024-05-01T10:00:00"), "body.started_at"),
        ("POST", "/v1/calls", calling(ended_at="0001-01-01T00:00:00+05:00"), "body.ended_at"),
        ("POST", "/v1/calls", calling(agent_version=2**40), "body.agent_version"),
        ("POST", "/v1/calls", calling(usage={"llm_tokens": 2**40}), "body.usage.llm_tokens"),
        ("POST", "/v1/calls", calling(usage={"audio_s": math.inf}), "body.usage.audio_s"),
        ("POST", "/v1/calls", calling(turns=[turn]), "body.turns[0].text"),
        ("GET", "/v1/agents/agt%00", None, "path.agent_id"),
        ("GET", "/v1/calls?agent_id=agt%00", None, "query.agent_id"),
        ("GET", "/v1/calls?started_after=2024-05-01T10:00:00", None, "query.started_after"),
        ("PATCH", f"/v1/tenants/{tenant.id}", _raw(minutes), "body.limits.monthly_call_minutes"),
    ]
    for method, url, body, field in cases:
        headers = ADMIN if url.startswith("/v1/tenants") else tenant.auth
        if body is not None:
            kind = "application/yaml" if url.endswith("/import") else "application/json"
            headers = {**headers, "content-type": kind}
        response = client.request(method, url, content=body, headers=headers)
        assert response.status_code == 422, f"{method} {url}: {response.text}"
        assert field in [e["field"] for e in response.json()["errors"]], response.text
    assert client.get("/v1/usage?to=0001-01-01", headers=tenant.auth).status_code == 200
    assert client.get("/v1/agents", headers=tenant.auth).json()["items"] == [agent.json()]
