"""``GET /v1/agents/{id}``, the hot read served pre-serialized: the same bytes and headers as
the models give, and its cache of version documents never outlives what it describes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import yaml
from fastapi.testclient import TestClient

from conftest import Tenant
from voxplane.services.schemas import AgentPublic

EXAMPLE = Path(__file__).parents[2] / "examples" / "agents" / "acme-dental.yaml"


def acme(**changes: object) -> dict[str, object]:
    document: dict[str, object] = yaml.safe_load(EXAMPLE.read_text())
    return document | changes


def test_the_body_is_what_the_model_serializes_to(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    created = client.post(
        "/v1/agents", json=acme(description="ünïcode ☎ 0.00001"), headers=tenant.auth
    )
    assert created.status_code == 201, created.text
    url = f"/v1/agents/{created.json()['id']}"
    for _ in range(2):  # the first read fills the cache, the second is served from it
        read = client.get(url, headers=tenant.auth)
        assert read.status_code == 200
        assert read.headers["content-type"] == "application/json"
        assert read.json() == created.json()
        # keys in stored order (PostgreSQL's jsonb reorders them), as the versions route has it
        version = client.get(f"{url}/versions/1", headers=tenant.auth).json()
        assert json.dumps(read.json()["document"]) == json.dumps(version["document"])
        # and formatted as pydantic formats the model
        model = AgentPublic.model_validate_json(read.content)
        assert model.model_dump_json().encode() == read.content
        assert read.headers["ratelimit-limit"]
        assert read.headers["server-timing"].startswith("ratelimit;dur=")
        assert read.headers["x-request-id"]

    updated = client.put(url, json=acme(description="second take"), headers=tenant.auth)
    assert updated.status_code == 200, updated.text
    read = client.get(url, headers=tenant.auth)
    assert read.json() == updated.json()
    assert read.json()["version"] == 2


def test_cached_documents_are_never_served_to_other_tenants_or_after_delete(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    owner, other = new_tenant(), new_tenant()
    agent = client.post("/v1/agents", json=acme(), headers=owner.auth).json()
    url = f"/v1/agents/{agent['id']}"
    assert client.get(url, headers=owner.auth).status_code == 200

    assert client.get(url, headers=other.auth).status_code == 404
    assert client.delete(url, headers=owner.auth).status_code == 204
    gone = client.get(url, headers=owner.auth)
    assert gone.status_code == 404
    assert gone.headers["content-type"] == "application/problem+json"
