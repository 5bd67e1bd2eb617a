"""Tenant isolation and roles, walked over every route of the OpenAPI document.

Tenant A makes one of everything; tenant B then tries every route with A's ids, and A's
own lesser roles try every write. The route list comes from ``/openapi.json``, so a new
route is walked as soon as it exists, and the walk fails until it knows how to fill the
route's path parameters (``make_estate``) and, for a write, its body (``BODIES``).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import ADMIN_TOKEN, PASSWORD, Tenant
from fastapi.testclient import TestClient
from test_api_agents import acme

from voxplane.store.ids import new_id

EXAMPLE = Path(__file__).parents[2] / "examples" / "agents" / "acme-dental.yaml"
METHODS = {"get", "put", "post", "patch", "delete"}
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
UNAUTHENTICATED = {"/healthz", "/readyz", "/v1/auth/login", "/v1/auth/refresh", "/v1/auth/logout"}
"""Probes, and the routes that take a password or refresh token instead of a bearer."""
SELF_SERVICE = {("POST", "/v1/auth/logout-session")}
"""Allowed to every signed-in user whatever the role: ending one's own session."""

Route = tuple[str, str]
Headers = dict[str, str]


def bearer(token: str) -> Headers:
    return {"Authorization": f"Bearer {token}"}


def is_platform_admin(path: str) -> bool:
    return path == "/v1/tenants" or path.startswith("/v1/tenants/")


def document_routes(client: TestClient) -> list[Route]:
    paths: dict[str, dict[str, Any]] = client.get("/openapi.json").json()["paths"]
    return [(m.upper(), path) for path, ops in paths.items() for m in ops if m in METHODS]


def tenant_routes(client: TestClient) -> list[Route]:
    """Every route a tenant credential opens: all but the probes, logins, platform admin."""
    return [
        (method, path)
        for method, path in document_routes(client)
        if path not in UNAUTHENTICATED and not is_platform_admin(path)
    ]


def new_number() -> str:
    return f"+1415{secrets.randbelow(10**7):07d}"


def a_call(agent_id: str) -> dict[str, Any]:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    return {
        "agent_id": agent_id,
        "direction": "simulated",
        "transport": "simulated",
        "from_number": "+14155550100",
        "started_at": start.isoformat(),
        "ended_at": (start + timedelta(seconds=42)).isoformat(),
        "end_reason": "caller_hangup",
        "turns": [
            {"role": "agent", "text": "Thank you for calling", "start_ms": 0, "end_ms": 900},
            {"role": "user", "text": "A cleaning, please", "start_ms": 1500, "end_ms": 2600},
        ],
        "metrics": [{"turn": 1, "stt_ms": 120, "brain_ms": 4, "tts_ms": 80}],
    }


@dataclass(frozen=True)
class Estate:
    """One of everything in a tenant, made through the API."""

    tenant: Tenant
    ids: dict[str, str]
    """Path parameter name → the id of this tenant's object of that kind."""
    member_email: str
    number: str
    keys: tuple[str, ...]
    """Its credential secret and API keys: never to be echoed anywhere."""

    def values(self) -> list[str]:
        """Every identifier of the estate: none may show up in another tenant's answers."""
        people = [self.tenant.id, self.tenant.user_id, self.tenant.email, self.member_email]
        ids = [value for value in self.ids.values() if "_" in value]  # not the version
        return [*people, *ids, self.number, *self.keys]


def make_estate(client: TestClient, tenant: Tenant) -> Estate:
    def create(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = client.post(path, json=body, headers=tenant.auth)
        assert response.status_code == 201, f"{path}: {response.text}"
        created: dict[str, Any] = response.json()
        return created

    agent = create("/v1/agents", acme())
    number = create("/v1/phone-numbers", {"number": new_number(), "agent_id": agent["id"]})
    secret = f"sk-{secrets.token_hex(12)}"
    credential = create(
        "/v1/credentials", {"name": "openai", "provider": "openai", "secret": secret}
    )
    key = create("/v1/api-keys", {"name": "ci", "role": "developer"})
    email = f"dev-{secrets.token_hex(4)}@members.test"
    member = create("/v1/members", {"email": email, "role": "developer", "password": PASSWORD})
    call = create("/v1/calls", a_call(agent["id"]))
    ids = {
        "agent_id": agent["id"],
        "version": "1",
        "number_id": number["id"],
        "credential_id": credential["id"],
        "key_id": key["id"],
        "member_id": member["id"],
        "call_id": call["id"],
    }
    return Estate(tenant, ids, email, number["number"], (secret, key["secret"], tenant.api_key))


def fill(path: str, ids: dict[str, str]) -> str:
    """``path`` with its parameters set from ``ids``; a parameter nobody knows fails."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in ids:
            pytest.fail(
                f"{path}: the isolation walker has no object for path parameter {name!r}; "
                "add one to make_estate() and its id to Estate.ids"
            )
        return ids[name]

    return re.sub(r"\{(\w+)\}", value, path)


def like(ids: dict[str, str]) -> dict[str, str]:
    """Ids of the same shape that name nothing (``agt_…`` → another ``agt_…``)."""
    return {k: new_id(v.split("_")[0]) if "_" in v else v for k, v in ids.items()}


YAML = EXAMPLE.read_bytes()
Body = Callable[[Estate], dict[str, Any] | bytes | None]
BODIES: dict[Route, Body] = {
    # Bodies point at the estate wherever they can refer to something: another tenant
    # must be refused them; the estate's own viewer must be refused them all the same.
    ("POST", "/v1/auth/logout-session"): lambda e: None,
    ("POST", "/v1/members"): lambda e: {"email": e.member_email, "role": "viewer"},
    ("PATCH", "/v1/members/{member_id}"): lambda e: {"role": "viewer"},
    ("DELETE", "/v1/members/{member_id}"): lambda e: None,
    ("POST", "/v1/api-keys"): lambda e: {"name": "walker", "role": "viewer"},
    ("DELETE", "/v1/api-keys/{key_id}"): lambda e: None,
    ("POST", "/v1/agents"): lambda e: acme(),
    ("POST", "/v1/agents/import"): lambda e: YAML,
    ("PUT", "/v1/agents/{agent_id}"): lambda e: acme(),
    ("DELETE", "/v1/agents/{agent_id}"): lambda e: None,
    ("PUT", "/v1/agents/{agent_id}/yaml"): lambda e: YAML,
    ("POST", "/v1/phone-numbers"): lambda e: {
        "number": new_number(),
        "agent_id": e.ids["agent_id"],
    },
    ("PATCH", "/v1/phone-numbers/{number_id}"): lambda e: {
        "agent_id": e.ids["agent_id"],
        "label": "walker",
    },
    ("DELETE", "/v1/phone-numbers/{number_id}"): lambda e: None,
    ("POST", "/v1/credentials"): lambda e: {
        "name": f"walker-{secrets.token_hex(3)}",
        "provider": "openai",
        "secret": "sk-walker",
    },
    ("PUT", "/v1/credentials/{credential_id}"): lambda e: {"secret": "sk-rotated"},
    ("DELETE", "/v1/credentials/{credential_id}"): lambda e: None,
    ("POST", "/v1/calls"): lambda e: a_call(e.ids["agent_id"]),
}


def body_for(route: Route, estate: Estate) -> dict[str, Any] | bytes | None:
    if route not in BODIES:
        pytest.fail(f"{route}: the isolation walker has no body for this write; add to BODIES")
    return BODIES[route](estate)


def send(
    client: TestClient,
    route: Route,
    headers: Headers,
    ids: dict[str, str],
    *,
    body: dict[str, Any] | bytes | None = None,
    params: dict[str, str] | None = None,
) -> Any:
    method, path = route
    url = fill(path, ids)
    if isinstance(body, bytes):
        headers = {**headers, "content-type": "application/yaml"}
        return client.request(method, url, content=body, headers=headers, params=params)
    return client.request(method, url, json=body, headers=headers, params=params)


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
def estate(client: TestClient, new_tenant: Callable[..., Tenant]) -> Estate:
    return make_estate(client, new_tenant())


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
    # Enrolling A's member needs that member's password; a wrong one changes nothing.
    wrong = {"email": estate.member_email, "role": "viewer", "password": "not-their-password"}
    enrolled = client.post("/v1/members", json=wrong, headers=stranger.auth)
    assert enrolled.status_code == 422, enrolled.text
    assert not leaks(enrolled.text, estate)
    login = client.post("/v1/auth/login", json={"email": estate.member_email, "password": PASSWORD})
    assert login.status_code == 200, login.text  # still one tenant: no "which tenant?" now


def test_the_platform_admin_api_refuses_tenant_credentials(
    client: TestClient, new_tenant: Callable[..., Tenant], estate: Estate
) -> None:
    other = new_tenant()
    ids = {"tenant_id": other.id}
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
    email = f"{role}-{secrets.token_hex(4)}@members.test"
    body = {"email": email, "role": role, "password": PASSWORD}
    made = client.post("/v1/members", json=body, headers=owner.auth)
    assert made.status_code == 201, made.text
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
        assert response.status_code == 403, f"{route}: {response.status_code} {response.text}"
    assert snapshot(client, estate) == before
    for path in ("/v1/agents", "/v1/phone-numbers", "/v1/calls", "/v1/usage", "/v1/tenant"):
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
    body = {"email": f"o-{secrets.token_hex(4)}@m.test", "role": "owner", "password": PASSWORD}
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
