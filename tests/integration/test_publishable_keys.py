"""Publishable keys: a web page's key that can only mint WebRTC call tokens for its one
agent, and only from the origins it lists; made, listed and revoked by admins (audited),
stored as a digest, refused everywhere else. And the CORS a page on another origin needs
for the two routes it calls."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from _webrtc_server import SCRIPTED_AGENT, digit, web_server
from fastapi.testclient import TestClient
from sqlalchemy import select

from conftest import Tenant, add_member
from voxplane.security.tokens import token_digest
from voxplane.services.platform import Platform
from voxplane.settings import Settings
from voxplane.store.models import PublishableKey
from voxplane.testing.webrtc_caller import WebRtcCaller

SITE = "https://shop.example.com"


def _agent(client: TestClient, tenant: Tenant, name: str = "web") -> str:
    response = client.post("/v1/agents", json={**SCRIPTED_AGENT, "name": name}, headers=tenant.auth)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _key(client: TestClient, tenant: Tenant, agent_id: str, *origins: str) -> Any:
    body = {"name": "site", "agent_id": agent_id, "allowed_origins": list(origins or [SITE])}
    response = client.post("/v1/publishable-keys", json=body, headers=tenant.auth)
    assert response.status_code == 201, response.text
    return response.json()


def _token(client: TestClient, key: str, agent_id: str, origin: str | None = SITE) -> Any:
    headers = {"Authorization": f"Bearer {key}"}
    if origin is not None:
        headers["Origin"] = origin
    return client.post("/v1/webrtc/tokens", json={"agent_id": agent_id}, headers=headers)


def _row(client: TestClient, key_id: str) -> dict[str, Any]:
    platform: Platform = client.app.state.platform  # type: ignore[attr-defined]
    table = PublishableKey.__table__

    async def fetch() -> dict[str, Any]:
        async with platform.db.engine.connect() as connection:
            result = await connection.execute(select(table).where(table.c.id == key_id))
            return dict(result.mappings().one())

    assert client.portal is not None
    return client.portal.call(fetch)


def test_a_publishable_key_is_shown_once_stored_hashed_listed_and_revoked(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    agent_id = _agent(client, tenant)
    made = _key(client, tenant, agent_id, "HTTPS://Shop.Example.com/", "http://127.0.0.1:8000")
    secret = made["key"]
    assert secret.startswith("vpk_") and made["prefix"] == secret[:12]
    assert made["allowed_origins"] == ["http://127.0.0.1:8000", SITE]  # normalized, sorted
    row = _row(client, made["id"])
    assert row["digest"] == token_digest(secret)
    assert secret not in str(row)

    listed = client.get("/v1/publishable-keys", headers=tenant.auth).json()["items"]
    assert [k["id"] for k in listed] == [made["id"]]
    assert "key" not in listed[0] and secret not in str(listed)
    one = client.get(f"/v1/publishable-keys/{made['id']}", headers=tenant.auth).json()
    assert one["agent_id"] == agent_id and one["revoked_at"] is None

    assert _token(client, secret, agent_id).status_code == 201
    revoked = client.delete(f"/v1/publishable-keys/{made['id']}", headers=tenant.auth)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    refused = _token(client, secret, agent_id)
    assert refused.status_code == 401, refused.text

    events = client.get("/v1/audit-events", headers=tenant.auth).json()["items"]
    actions = [(e["action"], e["target_id"]) for e in events]
    assert ("publishable_key.create", made["id"]) in actions
    assert ("publishable_key.revoke", made["id"]) in actions
    (created,) = [e for e in events if e["action"] == "publishable_key.create"]
    assert secret not in str(created)


def test_a_publishable_key_mints_tokens_only_for_its_agent_from_its_origins(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    agent_id, other_agent = _agent(client, tenant), _agent(client, tenant, "other")
    secret = _key(client, tenant, agent_id)["key"]

    minted = _token(client, secret, agent_id)
    assert minted.status_code == 201, minted.text
    assert minted.json()["token"].startswith("wrt_")
    assert minted.json()["ice_servers"] == []  # none configured: host candidates only
    assert minted.headers["access-control-allow-origin"] == SITE

    for origin in ("https://evil.example.com", "https://shop.example.com.evil.test", None):
        refused = _token(client, secret, agent_id, origin)
        assert refused.status_code == 403, (origin, refused.text)
        assert "origin" in refused.json()["detail"]
    assert _token(client, secret, other_agent).status_code == 403
    assert _token(client, secret + "x", agent_id).status_code == 401
    # the credential is checked before the body, as on every authenticated route
    unauthenticated = client.post("/v1/webrtc/tokens", json={"agent": 1}, headers={"Origin": SITE})
    assert unauthenticated.status_code == 401

    # Nowhere else: not even the routes a viewer may read.
    page_key = {"Authorization": f"Bearer {secret}", "Origin": SITE}
    for path in ("/v1/agents", "/v1/calls", "/v1/publishable-keys", "/v1/tenant"):
        assert client.get(path, headers=page_key).status_code == 401, path
    assert client.post("/v1/publishable-keys", json={}, headers=page_key).status_code == 401

    # Tokens it mints are audited as the key's.
    events = client.get("/v1/audit-events", headers=tenant.auth).json()["items"]
    by_page = [e for e in events if e["actor_type"] == "publishable_key"]
    assert by_page and {e["action"] for e in by_page} == {"webrtc.token"}


def test_bad_publishable_keys_are_refused_clearly(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant, stranger = new_tenant(), new_tenant()
    agent_id = _agent(client, tenant)

    def create(body: dict[str, Any], who: Tenant = tenant) -> Any:
        return client.post("/v1/publishable-keys", json=body, headers=who.auth)

    for origins, field in (
        (["https://shop.example.com/page"], "body.allowed_origins[0]"),
        (["shop.example.com"], "body.allowed_origins[0]"),
        (["javascript:alert(1)"], "body.allowed_origins[0]"),
        ([], "body.allowed_origins"),
    ):
        response = create({"name": "x", "agent_id": agent_id, "allowed_origins": origins})
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == field
    # another tenant's agent is no agent at all
    foreign = create({"name": "x", "agent_id": agent_id, "allowed_origins": [SITE]}, stranger)
    assert foreign.status_code == 404
    # developers may list keys but not make them
    developer = add_member(client, tenant, "developer")
    login = client.post(
        "/v1/auth/login", json={"email": developer["email"], "password": tenant.password}
    ).json()
    signed_in = {"Authorization": f"Bearer {login['access_token']}"}
    body = {"name": "x", "agent_id": agent_id, "allowed_origins": [SITE]}
    assert client.post("/v1/publishable-keys", json=body, headers=signed_in).status_code == 403
    assert client.get("/v1/publishable-keys", headers=signed_in).status_code == 200


def test_pages_on_other_origins_may_call_the_two_web_call_routes(client: TestClient) -> None:
    for path in ("/v1/webrtc/tokens", "/v1/webrtc/calls"):
        preflight = client.options(
            path,
            headers={
                "Origin": SITE,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert preflight.status_code == 204, path
        assert preflight.headers["access-control-allow-origin"] == SITE
        assert "authorization" in preflight.headers["access-control-allow-headers"]
        assert "access-control-allow-credentials" not in preflight.headers
    # every other route stays same-origin only
    other = client.options("/v1/agents", headers={"Origin": SITE})
    assert "access-control-allow-origin" not in other.headers


def test_a_page_with_a_publishable_key_talks_to_the_agent(settings: Settings) -> None:
    async def main() -> None:
        async with web_server(settings) as server:
            _, key, agent_id = await server.tenant()
            made = await server.http.post(
                "/v1/publishable-keys",
                json={"name": "site", "agent_id": agent_id, "allowed_origins": [SITE]},
                headers={"Authorization": f"Bearer {key}"},
            )
            secret = made.json()["key"]
            minted = await server.http.post(
                "/v1/webrtc/tokens",
                json={"agent_id": agent_id},
                headers={"Authorization": f"Bearer {secret}", "Origin": SITE},
            )
            assert minted.status_code == 201, minted.text
            caller = WebRtcCaller([digit()])
            try:
                answer = await server.offer(minted.json()["token"], await caller.offer())
                assert answer.status_code == 201, answer.text
                await caller.accept(answer.json()["sdp"])
                await caller.wait_ended(timeout_s=30)
            finally:
                await caller.aclose()
            record = await server.record_of(key, answer.json()["call_id"])
            assert record["transport"] == "webrtc"
            assert [t["text"] for t in record["turns"]] == [
                "Hello there.",
                "Seven.",
                "You said a digit.",
            ]

    asyncio.run(main())
