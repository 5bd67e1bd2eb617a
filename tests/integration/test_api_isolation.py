"""Tenant isolation and roles, walked over every route of the OpenAPI document.

Tenant A makes one of everything; tenant B then tries every route with A's ids, and A's
own lesser roles try every write. The route list comes from ``/openapi.json`` (``walker``),
so a new route is walked as soon as it exists, and the walk fails until it knows how to
fill the route's path parameters (``make_estate``) and, for a write, its body (``BODIES``).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from receiver import Receiver
from test_api_agents import acme
from walker import (
    BODIES,
    INVITEE_ONLY,
    SELF_SERVICE,
    WRITES,
    Estate,
    Headers,
    bearer,
    body_for,
    document_routes,
    is_platform_admin,
    like,
    make_estate,
    new_number,
    send,
    tenant_routes,
)

from conftest import ADMIN_TOKEN, PASSWORD, Tenant, add_member, make_settings
from voxplane.settings import Settings


def snapshot(client: TestClient, estate: Estate) -> dict[str, Any]:
    """Everything the estate's owner can read, by route (minus when keys were last used)."""

    def stable(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: stable(v) for k, v in value.items() if k != "last_used_at"}
        if isinstance(value, list):
            return [stable(v) for v in value]
        return value

    seen: dict[str, Any] = {}
    for route in tenant_routes(client):
        if route[0] == "GET":
            response = send(client, route, estate.tenant.auth, estate.ids)
            assert response.status_code == 200, f"{route}: {response.text}"
            json_body = response.headers["content-type"].startswith("application/json")
            seen[route[1]] = stable(response.json()) if json_body else response.text
    return seen


def leaks(text: str, estate: Estate) -> list[str]:
    return [value for value in estate.values() if value in text]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """As conftest's, with webhooks allowed to reach the receiver on loopback."""
    return make_settings(database_url, tmp_path, webhook_allow_private_networks=True)


@pytest.fixture(scope="module")
def hooks() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def estate(client: TestClient, new_tenant: Callable[..., Tenant], hooks: Receiver) -> Estate:
    return make_estate(client, new_tenant(), hooks.url)


def test_another_tenant_can_neither_read_list_nor_write(
    client: TestClient, new_tenant: Callable[..., Tenant], estate: Estate
) -> None:
    stranger = new_tenant()
    before = snapshot(client, estate)
    parameters = client.get("/openapi.json").json()["paths"]

    for route in tenant_routes(client):
        method, path = route
        body = body_for(route, estate) if method in WRITES else None
        if "{" in path:
            # On A's objects: 404, exactly as for ids that name nothing.
            theirs = send(client, route, stranger.auth, estate.ids, body=body)
            nothing = send(client, route, stranger.auth, like(estate.ids), body=body)
            assert theirs.status_code == 404, f"{route}: {theirs.status_code} {theirs.text}"
            assert theirs.json() == nothing.json(), f"{route}: a foreign id is told apart"
        elif method == "GET":
            # Lists and reports: B's own, with A's ids as filters where the route takes them.
            query = [p["name"] for p in parameters[path]["get"].get("parameters", [])]
            filters = {name: estate.ids[name] for name in query if name in estate.ids}
            response = send(client, route, stranger.auth, {}, params=filters)
            assert response.status_code == 200, f"{route}: {response.text}"
            assert not leaks(response.text, estate), (
                f"{route} shows A's {leaks(response.text, estate)}"
            )
        else:
            # Creates: anything that refers to A's objects is refused; nothing of A comes back.
            response = send(client, route, stranger.auth, {}, body=body)
            refers = bool(leaks(json.dumps(body) if isinstance(body, dict) else "", estate))
            if refers:
                assert response.status_code in {404, 409, 422}, f"{route}: {response.text}"
            assert response.status_code < 500, f"{route}: {response.text}"
            assert not leaks(response.text, estate), (
                f"{route} shows A's {leaks(response.text, estate)}"
            )

    assert snapshot(client, estate) == before


def test_foreign_references_are_refused(
    client: TestClient, new_tenant: Callable[..., Tenant], estate: Estate
) -> None:
    stranger = new_tenant()
    # A number is unique on the platform: taken is all B learns, not by whom.
    taken = client.post("/v1/phone-numbers", json={"number": estate.number}, headers=stranger.auth)
    assert taken.status_code == 409, taken.text
    assert not leaks(taken.text, estate)
    own = client.post("/v1/phone-numbers", json={"number": new_number()}, headers=stranger.auth)
    assert own.status_code == 201, own.text
    routed = client.patch(
        f"/v1/phone-numbers/{own.json()['id']}",
        json={"agent_id": estate.ids["agent_id"]},
        headers=stranger.auth,
    )
    assert routed.status_code == 422, routed.text

    # Nobody's password goes through another tenant's admin: not even the right one.
    body = {"email": estate.member_email, "role": "viewer", "password": PASSWORD}
    enrolled = client.post("/v1/members", json=body, headers=stranger.auth)
    assert enrolled.status_code == 422, enrolled.text
    assert enrolled.json()["errors"][0]["field"] == "body.password"
    assert not leaks(enrolled.text, estate)
    login = client.post("/v1/auth/login", json={"email": estate.member_email, "password": PASSWORD})
    assert login.status_code == 200, login.text  # still one tenant: no "which tenant?" now


def test_inviting_another_tenants_member_tells_and_changes_nothing(
    client: TestClient, new_tenant: Callable[..., Tenant], estate: Estate
) -> None:
    stranger = new_tenant()

    def invite(email: str) -> Any:
        response = client.post(
            "/v1/members", json={"email": email, "role": "viewer"}, headers=stranger.auth
        )
        assert response.status_code == 201, response.text
        return response

    theirs = invite(estate.member_email)
    nobody = invite(f"nobody-{secrets.token_hex(4)}@nowhere.test")
    varying = {"id", "email", "token", "created_at", "expires_at"}

    def shape(response: Any) -> dict[str, Any]:
        return {k: v for k, v in response.json().items() if k not in varying}

    assert theirs.json().keys() == nobody.json().keys()
    assert shape(theirs) == shape(nobody)
    assert theirs.headers.keys() == nobody.headers.keys()
    assert not leaks(theirs.text.replace(estate.member_email, ""), estate)
    # The link token cannot enrol an existing account: only that user, signed in, can.
    token = {"token": theirs.json()["token"], "password": "chosen-by-the-stranger"}
    refused = client.post("/v1/invitations/accept", json=token)
    assert refused.status_code == 409, refused.text
    assert not leaks(refused.text, estate)
    login = client.post("/v1/auth/login", json={"email": estate.member_email, "password": PASSWORD})
    assert login.status_code == 200, login.text  # still in one tenant only


def test_the_platform_admin_api_refuses_tenant_credentials(
    client: TestClient, new_tenant: Callable[..., Tenant], estate: Estate
) -> None:
    other = new_tenant()
    ids = {"tenant_id": other.id, "user_id": other.user_id}
    admin_routes = [r for r in document_routes(client) if is_platform_admin(r[1])]
    assert admin_routes
    bodies: dict[str, dict[str, Any]] = {
        "POST": {"name": f"t-{secrets.token_hex(4)}", "email": "x@y.test", "password": PASSWORD},
        "PATCH": {"status": "suspended"},
    }
    for route in admin_routes:
        body = bodies.get(route[0])
        if route[0] in WRITES and body is None:
            pytest.fail(f"{route}: no body for this platform-admin write; add to bodies")
        for headers in (estate.tenant.auth, bearer(ADMIN_TOKEN + "x"), {}):
            response = send(client, route, headers, ids, body=body)
            assert response.status_code == 401, f"{route}: {response.text}"
    assert client.get("/v1/tenant", headers=other.auth).json()["status"] == "active"
    login = {"email": other.email, "password": PASSWORD}
    assert client.post("/v1/auth/login", json=login).status_code == 200  # not disabled


def test_every_tenant_route_needs_a_tenant_credential(client: TestClient, estate: Estate) -> None:
    for route in tenant_routes(client):
        body = body_for(route, estate) if route[0] in WRITES else None
        for headers in ({}, bearer(ADMIN_TOKEN), bearer("vxp_" + "x" * 43)):
            response = send(client, route, headers, estate.ids, body=body)
            assert response.status_code == 401, f"{route}: {response.text}"


def test_the_walker_tables_name_only_routes_that_exist(client: TestClient) -> None:
    routes = set(tenant_routes(client))
    assert set(BODIES) <= routes, f"stale BODIES entries: {set(BODIES) - routes}"
    assert routes >= SELF_SERVICE
    writes = {r for r in routes if r[0] in WRITES}
    assert writes <= set(BODIES), f"writes the walker cannot fill: {writes - set(BODIES)}"


# --- roles ----------------------------------------------------------------------------


def credential(client: TestClient, owner: Tenant, role: str, kind: str) -> Headers:
    """A credential of ``role`` in the owner's tenant: an API key, or a member's login."""
    if kind == "key":
        body = {"name": f"{role}-key", "role": role}
        made = client.post("/v1/api-keys", json=body, headers=owner.auth)
        assert made.status_code == 201, made.text
        return bearer(made.json()["secret"])
    email = add_member(client, owner, role)["email"]
    login = client.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return bearer(login.json()["access_token"])


@pytest.fixture(params=["key", "login"])
def kind(request: pytest.FixtureRequest) -> str:
    """How the lesser role signs in: its own API key, or a member's password login."""
    return str(request.param)


def test_a_viewer_reads_but_writes_nothing(client: TestClient, estate: Estate, kind: str) -> None:
    viewer = credential(client, estate.tenant, "viewer", kind)
    before = snapshot(client, estate)
    for route in tenant_routes(client):
        if route[0] not in WRITES or (kind == "login" and route in SELF_SERVICE):
            continue
        response = send(client, route, viewer, estate.ids, body=body_for(route, estate))
        refusal = 404 if route in INVITEE_ONLY else 403
        assert response.status_code == refusal, f"{route}: {response.status_code} {response.text}"
    assert snapshot(client, estate) == before
    reads = ("/v1/agents", "/v1/phone-numbers", "/v1/sip-trunks", "/v1/calls", "/v1/usage")
    reads += ("/v1/analytics",)
    for path in (*reads, "/v1/tenant"):
        assert client.get(path, headers=viewer).status_code == 200, path
    assert client.get(f"/v1/agents/{estate.ids['agent_id']}", headers=viewer).status_code == 200
    for path in ("/v1/api-keys", "/v1/members", "/v1/audit-events"):
        assert client.get(path, headers=viewer).status_code == 403, path


def test_each_role_gets_what_it_grants(client: TestClient, estate: Estate, kind: str) -> None:
    owner = estate.tenant
    developer = credential(client, owner, "developer", kind)
    assert client.post("/v1/agents", json=acme(), headers=developer).status_code == 201
    assert client.get("/v1/api-keys", headers=developer).status_code == 200
    for role in ("viewer", "developer", "owner"):
        made = client.post("/v1/api-keys", json={"name": "k", "role": role}, headers=developer)
        assert made.status_code == 403, made.text
    assert client.get("/v1/audit-events", headers=developer).status_code == 403
    assert client.get("/v1/members", headers=developer).status_code == 403

    admin = credential(client, owner, "admin", kind)
    assert client.get("/v1/audit-events", headers=admin).status_code == 200
    assert client.get("/v1/members", headers=admin).status_code == 200
    made = client.post("/v1/api-keys", json={"name": "k", "role": "admin"}, headers=admin)
    assert made.status_code == 201, made.text
    # Nothing above one's own rights: not an owner key, not an owner member.
    owner_key = client.post("/v1/api-keys", json={"name": "k", "role": "owner"}, headers=admin)
    assert owner_key.status_code == 403, owner_key.text
    body = {"email": f"o-{secrets.token_hex(4)}@m.test", "role": "owner"}
    assert client.post("/v1/members", json=body, headers=admin).status_code == 403


def test_key_scopes_narrow_and_never_widen(client: TestClient, estate: Estate) -> None:
    owner = estate.tenant.auth
    unknown = {"name": "k", "role": "admin", "scopes": ["agents:read", "agents:nuke"]}
    refused = client.post("/v1/api-keys", json=unknown, headers=owner)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "scopes"

    narrow = {"name": "k", "role": "admin", "scopes": ["agents:read"]}
    made = client.post("/v1/api-keys", json=narrow, headers=owner)
    assert made.status_code == 201, made.text
    assert made.json()["scopes"] == ["agents:read"]
    key = bearer(made.json()["secret"])
    assert client.get("/v1/agents", headers=key).status_code == 200
    assert client.post("/v1/agents", json=acme(), headers=key).status_code == 403
    assert client.get("/v1/audit-events", headers=key).status_code == 403
    # A scope outside the role grants nothing.
    wider = {"name": "k", "role": "viewer", "scopes": ["agents:read", "keys:write"]}
    made = client.post("/v1/api-keys", json=wider, headers=owner)
    assert made.status_code == 201, made.text
    assert made.json()["scopes"] == ["agents:read"]
