"""Agents over the API: versions, validation errors naming the field, YAML round trip."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml
from conftest import Tenant
from fastapi.testclient import TestClient

EXAMPLE = Path(__file__).parents[2] / "examples" / "agents" / "acme-dental.yaml"


def acme() -> dict[str, object]:
    document: dict[str, object] = yaml.safe_load(EXAMPLE.read_text())
    return document


def test_every_update_is_a_new_immutable_version(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    created = client.post("/v1/agents", json=acme(), headers=tenant.auth)
    assert created.status_code == 201, created.text
    agent = created.json()
    assert agent["version"] == 1
    assert agent["document"]["call"]["first_message"].startswith("Thank you for calling")

    changed = acme()
    changed["description"] = "second take"
    updated = client.put(f"/v1/agents/{agent['id']}", json=changed, headers=tenant.auth)
    assert updated.status_code == 200, updated.text
    assert updated.json()["version"] == 2

    v1 = client.get(f"/v1/agents/{agent['id']}/versions/1", headers=tenant.auth).json()
    v2 = client.get(f"/v1/agents/{agent['id']}/versions/2", headers=tenant.auth).json()
    assert v1["document"]["description"] != "second take"
    assert v2["document"]["description"] == "second take"
    versions = client.get(f"/v1/agents/{agent['id']}/versions", headers=tenant.auth).json()
    assert [v["version"] for v in versions["items"]] == [2, 1]
    current = client.get(f"/v1/agents/{agent['id']}", headers=tenant.auth).json()
    assert current["version"] == 2


def test_invalid_documents_are_422_naming_the_field(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    bad_provider = acme()
    bad_provider["stt"] = {"provider": "nonesuch"}
    response = client.post("/v1/agents", json=bad_provider, headers=tenant.auth)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert any(e["field"] == "body.stt.provider" for e in response.json()["errors"])

    unknown = acme()
    unknown["colour"] = "blue"
    response = client.post("/v1/agents", json=unknown, headers=tenant.auth)
    assert response.status_code == 422
    assert any(e["field"] == "body.colour" for e in response.json()["errors"])

    dangling = acme()
    brain = dict(dangling["brain"])  # type: ignore[call-overload]
    brain["start"] = "nowhere"
    dangling["brain"] = brain
    response = client.post("/v1/agents", json=dangling, headers=tenant.auth)
    assert response.status_code == 422
    fields = [e["field"] for e in response.json()["errors"]]
    assert any("start" in f for f in fields), fields


def test_yaml_import_and_export_round_trip(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    headers = {**tenant.auth, "content-type": "application/yaml"}
    created = client.post("/v1/agents/import", content=EXAMPLE.read_bytes(), headers=headers)
    assert created.status_code == 201, created.text
    agent_id = created.json()["id"]
    exported = client.get(f"/v1/agents/{agent_id}/yaml", headers=tenant.auth)
    assert exported.headers["content-type"].startswith("application/yaml")
    again = client.post("/v1/agents/import", content=exported.content, headers=headers)
    assert again.status_code == 201, again.text
    assert again.json()["document"] == created.json()["document"]

    broken = client.post("/v1/agents/import", content=b"name: [unclosed", headers=headers)
    assert broken.status_code == 422
    assert "invalid YAML" in broken.json()["detail"]
