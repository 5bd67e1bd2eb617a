"""Property-based fuzz of the API against its own OpenAPI document (schemathesis).

Every operation gets generated requests, valid and invalid, through the real app over
SQLite, authenticated as a tenant owner (or as the platform admin on ``/v1/tenants``). No
response may be a 5xx, and each must match the document: a documented status, its content
type and its schema. Bounded and derandomized, so CI runs the same few thousand requests
each time; set ``VOXPLANE_FUZZ_EXAMPLES`` (e.g. 500) for a deeper local run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
import schemathesis
from conftest import ADMIN_TOKEN, PASSWORD, make_settings
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.case import Case
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from test_api_agents import acme

from voxplane.api.app import create_app

EXAMPLES = int(os.environ.get("VOXPLANE_FUZZ_EXAMPLES", "20"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

# The document only: building an app opens nothing (the platform opens in its lifespan).
schema = schemathesis.openapi.from_dict(
    create_app(make_settings("sqlite+aiosqlite://", Path("unused"))).openapi()
)


@dataclass(frozen=True)
class Fuzzed:
    app: FastAPI
    owner: dict[str, str]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Fuzzed:
    """An app over a migrated SQLite file holding one tenant (with an agent) to fuzz as.

    Two apps share the file. The setup app runs in a TestClient, whose own event loop opens
    and closes its platform. The fuzzed app opens its platform in its ASGI lifespan, which
    schemathesis drives: its ASGI transport starts the lifespan in schemathesis's event
    loop thread at the first request of each test, and its pytest plugin ends it when that
    test tears down. The platform thus always lives in the loop that serves its requests,
    exactly as under ``voxplane serve``; nothing is shared across loops but the file.
    """
    data = tmp_path_factory.mktemp("fuzz")
    setup = make_settings(f"sqlite+aiosqlite:///{data / 'voxplane.db'}", data)
    with TestClient(create_app(setup)) as client:
        limits = {"rate_per_minute": 1_000_000, "rate_burst": 1_000_000}  # never 429 here
        body = {"name": "fuzz", "email": "owner@fuzz.test", "password": PASSWORD, "limits": limits}
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
    admin_route = case.path == "/v1/tenants" or case.path.startswith("/v1/tenants/")
    headers = ADMIN if admin_route else fuzzed.owner
    case.call_and_validate(headers=headers, checks=CHECKS, app=fuzzed.app)
