"""The deployment's STUN/TURN servers reach the page with each WebRTC call token, whoever
mints it (an API key, or a page's publishable key): without them a caller behind NAT has
only its host candidates."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from _webrtc_server import SCRIPTED_AGENT
from fastapi.testclient import TestClient

from conftest import Tenant, make_settings
from voxplane.settings import Settings

STUN = {"urls": ["stun:stun.example.com:3478"]}
TURN = {"urls": ["turn:turn.example.com:3478?transport=udp"], "username": "u", "credential": "p"}
SITE = "https://shop.example.com"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path, webrtc_ice_servers=[STUN, TURN])


def test_call_tokens_carry_the_ice_servers(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    agent = client.post("/v1/agents", json=SCRIPTED_AGENT, headers=tenant.auth)
    assert agent.status_code == 201, agent.text
    agent_id = agent.json()["id"]
    expected = [{**STUN, "username": None, "credential": None}, TURN]

    minted = client.post("/v1/webrtc/tokens", json={"agent_id": agent_id}, headers=tenant.auth)
    assert minted.status_code == 201, minted.text
    assert minted.json()["ice_servers"] == expected

    key = client.post(
        "/v1/publishable-keys",
        json={"name": "site", "agent_id": agent_id, "allowed_origins": [SITE]},
        headers=tenant.auth,
    )
    assert key.status_code == 201, key.text
    from_page = client.post(
        "/v1/webrtc/tokens",
        json={"agent_id": agent_id},
        headers={"Authorization": f"Bearer {key.json()['key']}", "Origin": SITE},
    )
    assert from_page.status_code == 201, from_page.text
    assert from_page.json()["ice_servers"] == expected
