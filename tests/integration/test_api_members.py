"""Members join by invitation; keys and sessions never outlive their holder's rights.

- Inviting takes an email and a role, never a password, and answers the same whether the
  email has an account or not. A new account accepts with the single-use link token and
  chooses its password; an existing one accepts only signed in as itself.
- An API key acts for the member who made it: never more than their current role, and
  revoked (audited) when they are removed.
- A disabled user, or a removed member, has no working token from the next request on.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update
from test_api_agents import acme

from conftest import ADMIN_TOKEN, PASSWORD, Tenant, add_member
from voxplane.services.platform import Platform
from voxplane.store.models import Invitation
from voxplane.store.types import utcnow

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(client: TestClient, email: str, **more: str) -> Any:
    response = client.post("/v1/auth/login", json={"email": email, "password": PASSWORD, **more})
    assert response.status_code == 200, response.text
    return response.json()


def invite(client: TestClient, tenant: Tenant, email: str, role: str = "developer") -> Any:
    response = client.post("/v1/members", json={"email": email, "role": role}, headers=tenant.auth)
    assert response.status_code == 201, response.text
    return response.json()


def new_email() -> str:
    return f"n-{secrets.token_hex(4)}@invited.test"


def audit_actions(client: TestClient, tenant: Tenant) -> list[tuple[str, str | None]]:
    events = client.get("/v1/audit-events", headers=tenant.auth, params={"limit": 200})
    assert events.status_code == 200, events.text
    return [(e["action"], e["target_id"]) for e in events.json()["items"]]


# --- invitations ---------------------------------------------------------------------


def test_guessing_a_users_password_through_members_is_impossible(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    victim, attacker = new_tenant(), new_tenant()
    guesses = [f"guess-{i}-{secrets.token_hex(2)}" for i in range(15)] + [PASSWORD]
    answers = [
        client.post(
            "/v1/members",
            json={"email": victim.email, "role": "viewer", "password": guess},
            headers=attacker.auth,
        )
        for guess in guesses
    ]
    # the right password is answered exactly like the wrong ones: no route takes it
    assert {a.status_code for a in answers} == {422}
    assert len({a.text for a in answers}) == 1
    assert answers[-1].json()["errors"][0]["field"] == "body.password"
    members = client.get("/v1/members", headers=attacker.auth).json()["items"]
    assert victim.email not in [m["email"] for m in members]
    assert "tenant_id" not in login(client, victim.email)  # one tenant: no "which tenant?"


def test_a_new_tenant_for_an_existing_account_never_takes_its_password(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    """The platform admin's ``POST /v1/tenants`` used to check an existing account's
    password (401 for a wrong guess, 201 for the right one): an oracle. Now a password for
    an existing account is refused whatever it is, and without one the account becomes
    the owner and keeps its own."""
    owner = new_tenant()
    guesses = [f"guess-{i}-{secrets.token_hex(2)}" for i in range(5)] + [PASSWORD]
    answers = [
        client.post(
            "/v1/tenants",
            json={"name": f"t-{secrets.token_hex(4)}", "email": owner.email, "password": guess},
            headers=ADMIN,
        )
        for guess in guesses
    ]
    assert {a.status_code for a in answers} == {422}  # the right password included
    assert len({a.json()["errors"][0]["message"] for a in answers}) == 1
    assert answers[-1].json()["errors"][0]["field"] == "password"

    name = f"t-{secrets.token_hex(4)}"
    second = client.post("/v1/tenants", json={"name": name, "email": owner.email}, headers=ADMIN)
    assert second.status_code == 201, second.text
    assert second.json()["user_id"] == owner.user_id
    tokens = login(client, owner.email, tenant_id=second.json()["tenant_id"])
    tenant = client.get("/v1/tenant", headers=bearer(tokens["access_token"])).json()
    assert tenant["name"] == name  # their old password signs in to the new tenant
    fresh = f"t-{secrets.token_hex(4)}"
    nobody = client.post("/v1/tenants", json={"name": fresh, "email": new_email()}, headers=ADMIN)
    assert nobody.status_code == 422, nobody.text  # a new account needs a password
    assert nobody.json()["errors"][0]["field"] == "password"


def test_an_invitation_answers_the_same_for_any_email(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    somebody, admin = new_tenant(), new_tenant()
    has_account = invite(client, admin, somebody.email, "viewer")
    no_account = invite(client, admin, new_email(), "viewer")
    assert has_account.keys() == no_account.keys()
    for answer in (has_account, no_account):
        assert answer["status"] == "pending"
        assert answer["role"] == "viewer"
        assert answer["token"].startswith("vxi_")
        assert "user_id" not in answer
    listed = client.get("/v1/invitations", headers=admin.auth).json()["items"]
    assert {i["id"] for i in listed} >= {has_account["id"], no_account["id"]}
    assert all("token" not in i for i in listed)  # shown once, stored hashed


def test_a_new_user_joins_with_the_link_token_once(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    email = new_email()
    invitation = invite(client, tenant, email, "developer")
    body = {"token": invitation["token"], "password": PASSWORD}
    joined = client.post("/v1/invitations/accept", json=body)
    assert joined.status_code == 200, joined.text
    pair = joined.json()  # signed in to the tenant that invited them
    assert client.get("/v1/tenant", headers=bearer(pair["access_token"])).json()["id"] == tenant.id
    made = client.post("/v1/agents", json=acme(), headers=bearer(pair["access_token"]))
    assert made.status_code == 201, made.text

    again = client.post("/v1/invitations/accept", json=body)
    assert again.status_code == 401, again.text
    members = client.get("/v1/members", headers=tenant.auth).json()["items"]
    (member,) = [m for m in members if m["email"] == email]
    assert member["role"] == "developer"
    listed = client.get("/v1/invitations", headers=tenant.auth).json()["items"]
    assert [i["status"] for i in listed if i["id"] == invitation["id"]] == ["accepted"]
    actions = audit_actions(client, tenant)
    assert ("invitation.create", invitation["id"]) in actions
    assert ("member.add", member["id"]) in actions
    # a new account needs a password worth the name
    short = {"token": invite(client, tenant, new_email())["token"], "password": "short"}
    refused = client.post("/v1/invitations/accept", json=short)
    assert refused.status_code == 422, refused.text


def test_an_existing_user_joins_only_signed_in_as_themselves(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    home, inviting, stranger = new_tenant(), new_tenant(), new_tenant()
    invitation = invite(client, inviting, home.email, "viewer")
    path = f"/v1/invitations/{invitation['id']}/accept"

    # the token alone cannot enrol an account, whoever holds it
    by_token = {"token": invitation["token"], "password": "chosen-by-whoever"}
    assert client.post("/v1/invitations/accept", json=by_token).status_code == 409
    # nor can anyone else's session or key: to them the invitation does not exist
    someone_else = bearer(login(client, stranger.email)["access_token"])
    for headers in (someone_else, home.auth, inviting.auth):
        refused = client.post(path, headers=headers)
        assert refused.status_code == 404, refused.text

    themselves = bearer(login(client, home.email)["access_token"])
    joined = client.post(path, headers=themselves)
    assert joined.status_code == 200, joined.text
    assert joined.json()["email"] == home.email
    assert joined.json()["role"] == "viewer"
    assert client.post(path, headers=themselves).status_code == 404  # spent
    pair = login(client, home.email, tenant_id=inviting.id)
    own = client.get("/v1/tenant", headers=bearer(pair["access_token"]))
    assert own.json()["id"] == inviting.id


def test_revoked_and_expired_invitations_are_refused(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    revoked = invite(client, tenant, new_email())
    gone = client.delete(f"/v1/invitations/{revoked['id']}", headers=tenant.auth)
    assert gone.status_code == 204, gone.text
    body = {"token": revoked["token"], "password": PASSWORD}
    assert client.post("/v1/invitations/accept", json=body).status_code == 401

    expired = invite(client, tenant, new_email())
    platform: Platform = client.app.state.platform  # type: ignore[attr-defined]

    async def expire() -> None:
        async with platform.db.unit() as session:
            await session.execute(
                update(Invitation)
                .where(Invitation.id == expired["id"])
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )

    assert client.portal is not None
    client.portal.call(expire)  # on the app's event loop, where its connections live
    body = {"token": expired["token"], "password": PASSWORD}
    assert client.post("/v1/invitations/accept", json=body).status_code == 401
    listed = client.get("/v1/invitations", headers=tenant.auth).json()["items"]
    status = {i["id"]: i["status"] for i in listed}
    assert status[revoked["id"]] == "revoked"
    assert status[expired["id"]] == "expired"
    assert ("invitation.revoke", revoked["id"]) in audit_actions(client, tenant)


def test_accepting_is_throttled_per_token(client: TestClient) -> None:
    token = {"token": "vxi_" + "A" * 43, "password": PASSWORD}
    # 10 at once, then one each 6 s: bounded attempts reach a 429 unless each took seconds
    statuses = []
    for _ in range(40):
        statuses.append(client.post("/v1/invitations/accept", json=token).status_code)
        if statuses[-1] != 401:
            break
    assert statuses[-1] == 429, statuses
    assert len(statuses) > 10
    other = {"token": "vxi_" + "B" * 43, "password": PASSWORD}  # another token is not held up
    assert client.post("/v1/invitations/accept", json=other).status_code == 401


# --- API keys act for their member ----------------------------------------------------


def test_a_key_is_never_more_than_its_creator_now(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    member = add_member(client, tenant, "admin")
    session = bearer(login(client, member["email"])["access_token"])
    made = client.post("/v1/api-keys", json={"name": "ci", "role": "admin"}, headers=session)
    assert made.status_code == 201, made.text
    key = bearer(made.json()["secret"])
    # a key made with that key acts for the same member
    child = client.post("/v1/api-keys", json={"name": "sub", "role": "developer"}, headers=key)
    assert child.status_code == 201, child.text
    child_key = bearer(child.json()["secret"])
    assert client.get("/v1/audit-events", headers=key).status_code == 200

    demoted = client.patch(
        f"/v1/members/{member['id']}", json={"role": "viewer"}, headers=tenant.auth
    )
    assert demoted.status_code == 200, demoted.text
    assert client.get("/v1/audit-events", headers=key).status_code == 403
    assert client.post("/v1/agents", json=acme(), headers=key).status_code == 403
    assert client.post("/v1/agents", json=acme(), headers=child_key).status_code == 403
    assert client.get("/v1/agents", headers=key).status_code == 200

    removed = client.delete(f"/v1/members/{member['id']}", headers=tenant.auth)
    assert removed.status_code == 204, removed.text
    for credential in (key, child_key):
        refused = client.get("/v1/agents", headers=credential)
        assert refused.status_code == 401, refused.text
    for made_key in (made.json(), child.json()):
        shown = client.get(f"/v1/api-keys/{made_key['id']}", headers=tenant.auth).json()
        assert shown["revoked_at"] is not None
        assert ("api_key.revoke", made_key["id"]) in audit_actions(client, tenant)


def test_the_bootstrap_key_acts_for_the_first_owner(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    second = add_member(client, tenant, "owner")
    members = client.get("/v1/members", headers=tenant.auth).json()["items"]
    (first,) = [m for m in members if m["email"] == tenant.email]
    second_key = bearer(login(client, second["email"])["access_token"])
    demoted = client.patch(
        f"/v1/members/{first['id']}", json={"role": "developer"}, headers=second_key
    )
    assert demoted.status_code == 200, demoted.text
    assert client.get("/v1/members", headers=tenant.auth).status_code == 403


# --- sessions end with the user's rights ----------------------------------------------


def test_removing_a_member_ends_their_sessions_for_good(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    member = add_member(client, tenant, "developer")
    pair = login(client, member["email"])
    assert client.get("/v1/agents", headers=bearer(pair["access_token"])).status_code == 200

    removed = client.delete(f"/v1/members/{member['id']}", headers=tenant.auth)
    assert removed.status_code == 204, removed.text
    assert client.get("/v1/agents", headers=bearer(pair["access_token"])).status_code == 401
    # invited back, they join again by signing in with the invitation (they have no
    # tenant to sign in to otherwise); the old login session stays over
    invitation = invite(client, tenant, member["email"])
    accept_path = f"/v1/invitations/{invitation['id']}/accept"
    assert client.post(accept_path, headers=bearer(pair["access_token"])).status_code == 401
    token = {"token": invitation["token"], "password": PASSWORD}
    assert client.post("/v1/invitations/accept", json=token).status_code == 409  # has an account
    wrong = {"email": member["email"], "password": "not-the-password"}
    refused = client.post("/v1/auth/login", json={**wrong, "invitation_id": invitation["id"]})
    assert refused.status_code == 401, refused.text
    back = login(client, member["email"], invitation_id=invitation["id"])
    assert client.get("/v1/agents", headers=bearer(back["access_token"])).status_code == 200
    refreshed = client.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refreshed.status_code == 401, refreshed.text
    assert client.get("/v1/agents", headers=bearer(pair["access_token"])).status_code == 401


def test_a_disabled_user_has_no_working_credential(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    member = add_member(client, tenant, "admin")
    pair = login(client, member["email"])
    access = bearer(pair["access_token"])
    made = client.post("/v1/api-keys", json={"name": "ci", "role": "developer"}, headers=access)
    assert made.status_code == 201, made.text
    key = bearer(made.json()["secret"])
    assert client.get("/v1/agents", headers=access).status_code == 200
    assert client.get("/v1/agents", headers=key).status_code == 200

    path = f"/v1/users/{member['user_id']}"
    disabled = client.patch(path, json={"disabled": True}, headers=ADMIN)
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["disabled"] is True
    for headers in (access, key):
        assert client.get("/v1/agents", headers=headers).status_code == 401
    refreshed = client.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refreshed.status_code == 401, refreshed.text
    relogin = client.post("/v1/auth/login", json={"email": member["email"], "password": PASSWORD})
    assert relogin.status_code == 401, relogin.text
    assert ("user.disable", member["user_id"]) in audit_actions(client, tenant)

    enabled = client.patch(path, json={"disabled": False}, headers=ADMIN)
    assert enabled.status_code == 200, enabled.text
    assert client.get("/v1/agents", headers=key).status_code == 200  # keys come back
    again = client.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert again.status_code == 401  # sessions do not
    assert "access_token" in login(client, member["email"])
    nobody = client.patch("/v1/users/usr_01M8PCFSN6CAXA72CQHC0ZJ2F9", json={"disabled": True})
    assert nobody.status_code == 401
    missing = client.patch(
        "/v1/users/usr_01M8PCFSN6CAXA72CQHC0ZJ2F9", json={"disabled": True}, headers=ADMIN
    )
    assert missing.status_code == 404, missing.text
