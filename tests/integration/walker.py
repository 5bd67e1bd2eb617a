"""The route walker the API-wide tests share: every route of the OpenAPI document, and how
to fill each one with real ids and a real body.

A tenant's estate (``make_estate``) is one of everything, made through the API; ``fill``
sets a route's path parameters from it and ``BODIES`` gives each write a body. A route
the tables do not know fails the walk, so a new route is covered as soon as it exists.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from test_api_agents import acme

from conftest import PASSWORD, Tenant, add_member
from voxplane.store.ids import new_id
from voxplane.store.recordings import wav_header

EXAMPLE = Path(__file__).parents[2] / "examples" / "agents" / "acme-dental.yaml"
METHODS = {"get", "put", "post", "patch", "delete"}
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
UNAUTHENTICATED = {
    "/healthz",
    "/readyz",
    "/v1/auth/login",
    "/v1/auth/refresh",
    "/v1/auth/logout",
    "/v1/invitations/accept",
}
"""Probes, and the routes that take a password, refresh or invitation token, not a bearer."""
SELF_SERVICE = {("POST", "/v1/auth/logout-session"), ("POST", "/v1/auth/switch")}
"""Allowed to every signed-in user whatever the role: ending one's own session, signing
in to another of one's own tenants."""
INVITEE_ONLY = {("POST", "/v1/invitations/{invitation_id}/accept")}
"""Answered only to the invited user signed in as that email: to anyone else, whatever
their role, the invitation does not exist (404)."""

Route = tuple[str, str]
Headers = dict[str, str]


def bearer(token: str) -> Headers:
    return {"Authorization": f"Bearer {token}"}


def is_platform_admin(path: str) -> bool:
    return any(path == p or path.startswith(f"{p}/") for p in ("/v1/tenants", "/v1/users"))


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
    """Its credential secret, API keys and webhook secret: never to be echoed anywhere."""
    hook_url: str
    """Where its webhook delivers (a receiver on loopback, shared by every tenant)."""

    def values(self) -> list[str]:
        """Every identifier of the estate: none may show up in another tenant's answers."""
        people = [self.tenant.id, self.tenant.user_id, self.tenant.email, self.member_email]
        ids = [value for value in self.ids.values() if "_" in value]  # not the version
        return [*people, *ids, self.number, *self.keys]


def make_estate(client: TestClient, tenant: Tenant, hook_url: str) -> Estate:
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
    trunk_password = f"pw-{secrets.token_hex(8)}"
    trunk = create(
        "/v1/sip-trunks",
        {
            "name": "carrier",
            "inbound_addresses": ["127.0.0.1/32"],
            "inbound_auth": {"username": "pbx", "password": trunk_password},
            "outbound_address": "127.0.0.1:5099",
        },
    )
    key = create("/v1/api-keys", {"name": "ci", "role": "developer"})
    page_key = create(
        "/v1/publishable-keys",
        {"name": "site", "agent_id": agent["id"], "allowed_origins": ["https://shop.test"]},
    )
    email = f"dev-{secrets.token_hex(4)}@members.test"
    member = add_member(client, tenant, "developer", email)
    invited = f"invited-{secrets.token_hex(4)}@members.test"
    invitation = create("/v1/members", {"email": invited, "role": "viewer"})
    hook = create("/v1/webhooks", {"url": hook_url, "events": ["call.ended"]})
    call = create("/v1/calls", a_call(agent["id"]))
    record_audio(client, tenant.id, call["id"])
    delivery = _delivered(client, tenant, hook["id"])
    ids = {
        "agent_id": agent["id"],
        "version": "1",
        "number_id": number["id"],
        "credential_id": credential["id"],
        "trunk_id": trunk["id"],
        "key_id": key["id"],
        "publishable_key_id": page_key["id"],
        "member_id": member["id"],
        "invitation_id": invitation["id"],
        "call_id": call["id"],
        "webhook_id": hook["id"],
        "delivery_id": delivery,
    }
    keys = (
        *(secret, trunk_password, key["secret"], tenant.api_key, page_key["key"]),
        *(invitation["token"], hook["secret"]),
    )
    return Estate(tenant, ids, email, number["number"], keys, hook_url)


def _delivered(client: TestClient, tenant: Tenant, hook_id: str) -> str:
    """The id of the hook's one delivery, once it is delivered (so the estate holds still)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        path = f"/v1/webhooks/{hook_id}/deliveries"
        items = client.get(path, params={"status": "delivered"}, headers=tenant.auth).json()
        if items["items"]:
            return str(items["items"][0]["id"])
        time.sleep(0.05)
    raise AssertionError("the estate's call.ended was not delivered to its webhook")


def record_audio(client: TestClient, tenant_id: str, call_id: str) -> None:
    """A recording for a call posted through the API (the runtime makes them for calls
    it runs): a second of stereo silence where the recording store keeps it."""
    store = client.app.state.platform.recordings  # type: ignore[attr-defined]
    path: Path = store.path(tenant_id, call_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(wav_header(16_000, 2, 64_000) + bytes(64_000))


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
    # Inviting takes any email (whose account it is, is not told): a fresh one here, A's
    # member's in test_inviting_another_tenants_member_tells_and_changes_nothing.
    ("POST", "/v1/members"): lambda e: {
        "email": f"new-{secrets.token_hex(4)}@walker.test",
        "role": "viewer",
    },
    ("DELETE", "/v1/invitations/{invitation_id}"): lambda e: None,
    ("POST", "/v1/invitations/{invitation_id}/accept"): lambda e: None,
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
    ("POST", "/v1/sip-trunks"): lambda e: {
        "name": f"walker-{secrets.token_hex(3)}",
        "inbound_addresses": ["192.0.2.0/24"],
    },
    ("PUT", "/v1/sip-trunks/{trunk_id}"): lambda e: {
        "name": "walker",
        "inbound_addresses": ["0.0.0.0/0"],
        "inbound_auth": {"username": "walker", "password": "walker-pw"},
    },
    ("PATCH", "/v1/sip-trunks/{trunk_id}"): lambda e: {"inbound_addresses": ["0.0.0.0/0"]},
    ("DELETE", "/v1/sip-trunks/{trunk_id}"): lambda e: None,
    ("POST", "/v1/calls/outbound"): lambda e: {
        "agent_id": e.ids["agent_id"],
        "to": "+14155550100",
        "from": e.number,
        "trunk_id": e.ids["trunk_id"],
    },
    ("POST", "/v1/calls"): lambda e: a_call(e.ids["agent_id"]),
    ("POST", "/v1/webrtc/tokens"): lambda e: {"agent_id": e.ids["agent_id"]},
    ("POST", "/v1/publishable-keys"): lambda e: {
        "name": "walker",
        "agent_id": e.ids["agent_id"],
        "allowed_origins": ["https://walker.test"],
    },
    ("DELETE", "/v1/publishable-keys/{publishable_key_id}"): lambda e: None,
    ("POST", "/v1/auth/switch"): lambda e: {"tenant_id": e.tenant.id},
    ("POST", "/v1/webhooks"): lambda e: {"url": e.hook_url, "events": ["agent.updated"]},
    ("PATCH", "/v1/webhooks/{webhook_id}"): lambda e: {"description": "walker"},
    ("DELETE", "/v1/webhooks/{webhook_id}"): lambda e: None,
    ("POST", "/v1/webhooks/{webhook_id}/rotate-secret"): lambda e: {"overlap_s": 60},
    ("POST", "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/replay"): lambda e: None,
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


# --- the audit log ------------------------------------------------------------------

Target = Callable[[Estate, dict[str, Any]], str | None]
"""Which object a write's audit event names, from the estate and the write's reply."""


def created(_: Estate, reply: dict[str, Any]) -> str:
    return str(reply.get("id") or reply["tenant_id"])


def path_id(name: str) -> Target:
    return lambda estate, _: estate.ids[name]


AUDITED: dict[Route, tuple[str, Target]] = {
    # One line per write: the action its audit event records, and the object it names.
    ("POST", "/v1/members"): ("invitation.create", created),
    ("DELETE", "/v1/invitations/{invitation_id}"): (
        "invitation.revoke",
        path_id("invitation_id"),
    ),
    ("PATCH", "/v1/members/{member_id}"): ("member.update", path_id("member_id")),
    ("DELETE", "/v1/members/{member_id}"): ("member.remove", path_id("member_id")),
    ("POST", "/v1/api-keys"): ("api_key.create", created),
    ("DELETE", "/v1/api-keys/{key_id}"): ("api_key.revoke", path_id("key_id")),
    ("POST", "/v1/publishable-keys"): ("publishable_key.create", created),
    ("DELETE", "/v1/publishable-keys/{publishable_key_id}"): (
        "publishable_key.revoke",
        path_id("publishable_key_id"),
    ),
    ("POST", "/v1/agents"): ("agent.create", created),
    ("POST", "/v1/agents/import"): ("agent.create", created),
    ("PUT", "/v1/agents/{agent_id}"): ("agent.update", path_id("agent_id")),
    ("PUT", "/v1/agents/{agent_id}/yaml"): ("agent.update", path_id("agent_id")),
    ("DELETE", "/v1/agents/{agent_id}"): ("agent.delete", path_id("agent_id")),
    ("POST", "/v1/phone-numbers"): ("number.create", created),
    ("PATCH", "/v1/phone-numbers/{number_id}"): ("number.update", path_id("number_id")),
    ("DELETE", "/v1/phone-numbers/{number_id}"): ("number.delete", path_id("number_id")),
    ("POST", "/v1/credentials"): ("credential.create", created),
    ("PUT", "/v1/credentials/{credential_id}"): ("credential.update", path_id("credential_id")),
    ("DELETE", "/v1/credentials/{credential_id}"): (
        "credential.delete",
        path_id("credential_id"),
    ),
    ("POST", "/v1/calls"): ("call.record", created),
    ("POST", "/v1/calls/outbound"): ("call.place", created),
    ("POST", "/v1/webhooks"): ("webhook.create", created),
    ("PATCH", "/v1/webhooks/{webhook_id}"): ("webhook.update", path_id("webhook_id")),
    ("DELETE", "/v1/webhooks/{webhook_id}"): ("webhook.delete", path_id("webhook_id")),
    ("POST", "/v1/webhooks/{webhook_id}/rotate-secret"): (
        "webhook.rotate",
        path_id("webhook_id"),
    ),
    ("POST", "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/replay"): (
        "webhook.replay",
        path_id("webhook_id"),
    ),
    ("POST", "/v1/sip-trunks"): ("sip_trunk.create", created),
    ("PUT", "/v1/sip-trunks/{trunk_id}"): ("sip_trunk.update", path_id("trunk_id")),
    ("PATCH", "/v1/sip-trunks/{trunk_id}"): ("sip_trunk.update", path_id("trunk_id")),
    ("DELETE", "/v1/sip-trunks/{trunk_id}"): ("sip_trunk.delete", path_id("trunk_id")),
    ("POST", "/v1/tenants"): ("tenant.create", created),
    ("PATCH", "/v1/tenants/{tenant_id}"): ("tenant.update", path_id("tenant_id")),
    ("PATCH", "/v1/users/{user_id}"): ("user.disable", path_id("user_id")),
}
BY_INVITEE: dict[Route, str] = {
    # Writes only the invited user makes (not a tenant credential), walked apart: the action.
    ("POST", "/v1/invitations/accept"): "member.add",
    ("POST", "/v1/invitations/{invitation_id}/accept"): "member.add",
}
NOT_AUDITED: dict[Route, str] = {
    ("POST", "/v1/auth/login"): "signing in changes no tenant data (access log only)",
    ("POST", "/v1/auth/refresh"): "a token refresh changes no tenant data (access log only)",
    ("POST", "/v1/auth/logout"): "ending a session changes no tenant data (access log only)",
    ("POST", "/v1/auth/logout-session"): "as /v1/auth/logout, with the access token",
    ("POST", "/v1/auth/switch"): "signing in to another of one's tenants changes no tenant "
    "data (access log only)",
    ("POST", "/v1/webrtc/tokens"): "a single-use call token living 60 s; the call it starts "
    "is recorded, and audit events would grow with every web call",
}
AUDIT_BODIES: dict[Route, Body] = {
    # Where BODIES holds a body made to be refused, one that succeeds.
    ("POST", "/v1/tenants"): lambda e: {
        "name": f"t-{secrets.token_hex(4)}",
        "email": f"owner-{secrets.token_hex(4)}@tenants.test",
        "password": PASSWORD,
    },
    ("PATCH", "/v1/tenants/{tenant_id}"): lambda e: {"limits": {"rate_per_minute": 999}},
    ("PATCH", "/v1/users/{user_id}"): lambda e: {"disabled": True},
}
