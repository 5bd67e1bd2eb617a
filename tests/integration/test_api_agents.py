"""Agents over the API: versions, validation errors naming the field, YAML round trip."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml
from fastapi.testclient import TestClient

from conftest import Tenant

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


def test_an_agent_holding_a_provider_key_is_refused_and_the_key_not_echoed(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    for stt, field in (
        ({"provider": "deepgram", "api_key": "dg-secret-123"}, "body.stt.api_key"),
        ({"provider": "deepgram", "api_key_env": "VOXPLANE_TOKEN_SECRET"}, "body.stt.api_key_env"),
        (
            {"provider": "deepgram", "fallback": [{"provider": "openai", "api_key": "sk-1"}]},
            "body.stt.fallback[0].api_key",
        ),
    ):
        document = acme()
        document["stt"] = stt
        response = client.post("/v1/agents", json=document, headers=tenant.auth)
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == [field]
        assert "dg-secret-123" not in response.text and "sk-1" not in response.text


def test_an_agent_whose_provider_key_is_not_stored_is_refused(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    named = acme()
    named["stt"] = {"provider": "deepgram", "credential": "deepgram-prod"}
    by_provider = acme()
    by_provider["tts"] = {
        "provider": "cartesia",
        "fallback": [{"provider": "azure", "region": "westeurope"}],
    }
    for document, field in (
        (named, "body.stt.credential"),
        (by_provider, "body.tts"),
    ):
        response = client.post("/v1/agents", json=document, headers=tenant.auth)
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == [field]

    for name, provider in (("deepgram-prod", "deepgram"), ("cartesia", "cartesia")):
        body = {"name": name, "provider": provider, "secret": "s3cret-value"}
        made = client.post("/v1/credentials", json=body, headers=tenant.auth)
        assert made.status_code == 201, made.text
    assert client.post("/v1/agents", json=named, headers=tenant.auth).status_code == 201
    refused = client.post("/v1/agents", json=by_provider, headers=tenant.auth)
    assert [e["field"] for e in refused.json()["errors"]] == ["body.tts.fallback[0]"]  # azure


def llm_agent(**brain: object) -> dict[str, object]:
    return {
        "name": "llm-receptionist",
        "brain": {
            "type": "llm",
            "provider": "openai",
            "model": "gpt-4o-mini",
            "credential": "openai-prod",
            "prompt": "You are the receptionist of {{company}}.",
            "variables": {"company": "Acme"},
            **brain,
        },
    }


def test_llm_agents_name_stored_credentials_and_bad_ones_are_422_naming_the_field(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    tool = {"type": "http", "name": "lookup", "url": "https://api.acme.test/orders"}
    created = client.post("/v1/agents", json=llm_agent(tools=[tool]), headers=tenant.auth)
    assert created.status_code == 201, created.text
    assert created.json()["document"]["brain"]["credential"] == "openai-prod"

    cases = {
        "body.brain.provider": llm_agent(provider="mistral"),
        "body.brain.api_key": llm_agent(credential=None, api_key="sk-secret-value"),
        "body.brain.api_key_env": llm_agent(credential=None),  # no key at all
        "body.brain.base_url": llm_agent(base_url="http://10.0.0.5:8000/v1"),
        "body.brain.tools[0].url": llm_agent(tools=[tool | {"url": "http://127.0.0.1/x"}]),
        "body.brain.variables": llm_agent(variables={}),
        "body.brain.llm.api_key": {
            "name": "flow-with-llm-step",
            "brain": {
                "type": "flow",
                "start": "ask",
                "llm": {"provider": "openai", "model": "gpt-4o-mini", "api_key": "sk-secret-value"},
                "nodes": {
                    "ask": {"say": "Yes?", "llm": {"instructions": "Help."}, "next": "bye"},
                    "bye": {"say": "Bye.", "action": {"type": "hangup"}},
                },
            },
        },
    }
    for field, document in cases.items():
        response = client.post("/v1/agents", json=document, headers=tenant.auth)
        assert response.status_code == 422, (field, response.text)
        assert [e["field"] for e in response.json()["errors"]] == [field], response.text
        assert "sk-secret-value" not in response.text

    unreachable = llm_agent(base_url="http://model-server.invalid/v1")
    response = client.post("/v1/agents", json=unreachable, headers=tenant.auth)
    assert response.status_code == 422, response.text
    (error,) = response.json()["errors"]
    assert error["field"] == "body.brain.base_url"
    assert error["message"].startswith("cannot reach http://model-server.invalid/v1")
