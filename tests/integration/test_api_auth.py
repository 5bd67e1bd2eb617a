"""Authentication over the API: login, rotating refresh tokens, logout, API keys, roles.

Verified credentials are cached in-process for a few seconds; every revocation here
(logout, refresh-token reuse, key revocation, a role change) must drop that cache, so each
test uses a credential right before revoking it and expects the very next request to fail.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import jwt
import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import select

from conftest import PASSWORD, Tenant, add_member, make_settings
from voxplane.security.tokens import TokenSigner, token_digest
from voxplane.services.platform import Platform
from voxplane.settings import Settings
from voxplane.store.models import ApiKey

TOKEN_SECRET = "test-token-secret-" + "s" * 32
PROBLEM = "application/problem+json"
EXAMPLE = Path(__file__).parents[2] / "examples" / "agents" / "acme-dental.yaml"


@pytest.fixture
def settings(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Settings:
    """The conftest settings, plus whatever a test parametrizes indirectly."""
    more: dict[str, Any] = getattr(request, "param", {})
    return make_settings(database_url, tmp_path, **more)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _login(client: TestClient, email: str, password: str = PASSWORD, **more: str) -> Any:
    response = client.post("/v1/auth/login", json={"email": email, "password": password, **more})
    assert response.status_code == 200, response.text
    return response.json()


def _refresh(client: TestClient, refresh_token: str) -> httpx2.Response:
    return client.post("/v1/auth/refresh", json={"refresh_token": refresh_token})


def _assert_unauthorized(response: httpx2.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"] == "Bearer"


def _add_member(client: TestClient, tenant: Tenant, role: str) -> Any:
    return add_member(client, tenant, role)


def _an_agent() -> Any:
    return yaml.safe_load(EXAMPLE.read_text())


# --- login ---------------------------------------------------------------------------


def test_login_issues_tokens_that_authenticate(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    pair = _login(client, tenant.email)
    assert pair["token_type"] == "bearer"
    assert pair["expires_in"] == 900
    assert pair["refresh_token"].startswith("vxr_")
    listed = client.get("/v1/agents", headers=_bearer(pair["access_token"]))
    assert listed.status_code == 200, listed.text
    own = client.get("/v1/tenant", headers=_bearer(pair["access_token"]))
    assert own.json()["id"] == tenant.id
    _assert_unauthorized(client.get("/v1/agents", headers=_bearer(pair["access_token"] + "x")))


def test_wrong_password_and_unknown_email_look_the_same(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    wrong = client.post(
        "/v1/auth/login", json={"email": tenant.email, "password": "not the password"}
    )
    unknown = client.post(
        "/v1/auth/login", json={"email": f"nobody-{tenant.email}", "password": "not the password"}
    )
    _assert_unauthorized(wrong)
    _assert_unauthorized(unknown)
    assert wrong.json() == unknown.json()
    assert wrong.json()["detail"] == "wrong email or password"


def test_a_user_of_two_tenants_must_pick_one(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    home, second, stranger = new_tenant(), new_tenant(), new_tenant()
    signed_in = _bearer(_login(client, home.email)["access_token"])
    add_member(client, second, "developer", email=home.email, signed_in=signed_in)

    ambiguous = client.post("/v1/auth/login", json={"email": home.email, "password": PASSWORD})
    assert ambiguous.status_code == 422, ambiguous.text
    assert ambiguous.headers["content-type"] == PROBLEM
    [several] = ambiguous.json()["errors"]
    assert several["field"] == "tenant_id"
    # The password was right, so the user's own tenants are offered, by name and role.
    names = {t["id"]: t["name"] for t in (client.get("/v1/tenant", headers=h).json()
             for h in (home.auth, second.auth))}  # fmt: skip
    assert sorted((c["value"], c["label"]) for c in several["choices"]) == sorted(
        [(home.id, f"{names[home.id]} (owner)"), (second.id, f"{names[second.id]} (developer)")]
    )
    wrong = {"email": home.email, "password": "not it"}
    assert "choices" not in client.post("/v1/auth/login", json=wrong).text

    for tenant, role in ((home, "owner"), (second, "developer")):
        pair = _login(client, home.email, tenant_id=tenant.id)
        headers = _bearer(pair["access_token"])
        assert client.get("/v1/tenant", headers=headers).json()["id"] == tenant.id
        assert jwt.decode(pair["access_token"], options={"verify_signature": False})["role"] == (
            role
        )
    # a tenant the user is not in is refused like a wrong password
    outsider = client.post(
        "/v1/auth/login",
        json={"email": home.email, "password": PASSWORD, "tenant_id": stranger.id},
    )
    _assert_unauthorized(outsider)
    assert outsider.json()["detail"] == "wrong email or password"


# --- refresh tokens ------------------------------------------------------------------


def test_refresh_rotates_and_reuse_revokes_the_whole_session(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    first = _login(client, tenant.email)
    rotated = _refresh(client, first["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    newest = client.get("/v1/agents", headers=_bearer(second["access_token"]))
    assert newest.status_code == 200, newest.text  # now cached in-process

    # a spent refresh token presented again: someone else has it
    _assert_unauthorized(_refresh(client, first["refresh_token"]))
    _assert_unauthorized(_refresh(client, second["refresh_token"]))
    _assert_unauthorized(client.get("/v1/agents", headers=_bearer(second["access_token"])))
    _assert_unauthorized(client.get("/v1/agents", headers=_bearer(first["access_token"])))

    # other sessions of the same user live on
    other = _login(client, tenant.email)
    assert client.get("/v1/agents", headers=_bearer(other["access_token"])).status_code == 200
    assert _refresh(client, other["refresh_token"]).status_code == 200


def test_garbage_refresh_tokens_are_401(client: TestClient) -> None:
    for token in ("vxr_" + "a" * 43, "not-a-token", ""):
        _assert_unauthorized(_refresh(client, token))


# --- logout --------------------------------------------------------------------------


def test_logout_with_the_refresh_token_ends_the_session(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    pair = _login(client, tenant.email)
    assert client.get("/v1/agents", headers=_bearer(pair["access_token"])).status_code == 200

    out = client.post("/v1/auth/logout", json={"refresh_token": pair["refresh_token"]})
    assert out.status_code == 204, out.text
    _assert_unauthorized(_refresh(client, pair["refresh_token"]))
    _assert_unauthorized(client.get("/v1/agents", headers=_bearer(pair["access_token"])))
    again = client.post("/v1/auth/logout", json={"refresh_token": pair["refresh_token"]})
    assert again.status_code == 204  # idempotent, and says nothing about the token


def test_logout_session_with_the_access_token(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    pair = _login(client, tenant.email)
    headers = _bearer(pair["access_token"])
    assert client.get("/v1/agents", headers=headers).status_code == 200

    out = client.post("/v1/auth/logout-session", headers=headers)
    assert out.status_code == 204, out.text
    _assert_unauthorized(client.get("/v1/agents", headers=headers))
    _assert_unauthorized(_refresh(client, pair["refresh_token"]))

    by_key = client.post("/v1/auth/logout-session", headers=tenant.auth)
    assert by_key.status_code == 403, by_key.text
    assert by_key.headers["content-type"] == PROBLEM
    assert client.get("/v1/agents", headers=tenant.auth).status_code == 200


@pytest.mark.parametrize(
    "settings",
    [{"access_token_ttl_s": 60, "token_secret": TOKEN_SECRET}],
    ids=["ttl60"],
    indirect=True,
)
def test_an_expired_access_token_is_rejected(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    pair = _login(client, tenant.email)
    assert pair["expires_in"] == 60
    claims = jwt.decode(pair["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 60
    subject = {
        "user_id": tenant.user_id,
        "tenant_id": tenant.id,
        "role": "owner",
        "session_id": claims["sid"],
    }

    def signer(offset_s: float) -> TokenSigner:
        return TokenSigner(TOKEN_SECRET.encode(), ttl_s=60, clock=lambda: time.time() + offset_s)

    # the same secret and session: a token issued now is good, so the secret matches
    fresh = signer(0).issue(**subject)
    assert client.get("/v1/agents", headers=_bearer(fresh)).status_code == 200
    for offset_s in (-61, -3600):
        expired = signer(offset_s).issue(**subject)
        _assert_unauthorized(client.get("/v1/agents", headers=_bearer(expired)))
    wrong_secret = TokenSigner(b"another-secret-" + b"x" * 32, ttl_s=60).issue(**subject)
    _assert_unauthorized(client.get("/v1/agents", headers=_bearer(wrong_secret)))


# --- API keys ------------------------------------------------------------------------


def _api_key_row(client: TestClient, key_id: str) -> dict[str, Any]:
    platform: Platform = client.app.state.platform  # type: ignore[attr-defined]
    table = ApiKey.__table__

    async def fetch() -> dict[str, Any]:
        async with platform.db.engine.connect() as connection:
            result = await connection.execute(select(table).where(table.c.id == key_id))
            return dict(result.mappings().one())

    assert client.portal is not None
    return client.portal.call(fetch)


def test_api_key_secret_is_shown_once_and_stored_hashed(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    created = client.post(
        "/v1/api-keys", json={"name": "ci", "role": "developer"}, headers=tenant.auth
    )
    assert created.status_code == 201, created.text
    key = created.json()
    secret = key["secret"]
    assert secret.startswith("vxp_")
    assert secret.startswith(key["prefix"])

    one = client.get(f"/v1/api-keys/{key['id']}", headers=tenant.auth)
    listed = client.get("/v1/api-keys", headers=tenant.auth)
    for response in (one, listed):
        assert response.status_code == 200, response.text
        assert secret not in response.text
    assert "secret" not in one.json()
    assert all("secret" not in item for item in listed.json()["items"])

    row = _api_key_row(client, key["id"])
    assert row["digest"] == token_digest(secret) != secret
    assert all(secret not in str(value) for value in row.values()), row
    assert row["last_used_at"] is None

    headers = _bearer(secret)
    assert client.get("/v1/agents", headers=headers).status_code == 200
    assert client.get(f"/v1/api-keys/{key['id']}", headers=tenant.auth).json()["last_used_at"]
    assert _api_key_row(client, key["id"])["last_used_at"] is not None

    revoked = client.delete(f"/v1/api-keys/{key['id']}", headers=tenant.auth)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_at"] is not None
    _assert_unauthorized(client.get("/v1/agents", headers=headers))  # despite the cache
    assert client.get("/v1/agents", headers=tenant.auth).status_code == 200


def test_a_key_never_gets_more_than_its_creator(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    developer = _add_member(client, tenant, "developer")
    pair = _login(client, developer["email"])
    escalate = client.post(
        "/v1/api-keys", json={"name": "x", "role": "admin"}, headers=_bearer(pair["access_token"])
    )
    assert escalate.status_code == 403, escalate.text


# --- members and roles ---------------------------------------------------------------


def test_a_demoted_member_loses_write_access_at_once(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    member = _add_member(client, tenant, "developer")
    headers = _bearer(_login(client, member["email"])["access_token"])
    assert client.post("/v1/agents", json=_an_agent(), headers=headers).status_code == 201

    demoted = client.patch(
        f"/v1/members/{member['id']}", json={"role": "viewer"}, headers=tenant.auth
    )
    assert demoted.status_code == 200, demoted.text
    assert demoted.json()["role"] == "viewer"
    # the role is read from the membership, not the token, and the change drops the cache:
    # the token in hand is a viewer's from the next request, without logging in again
    refused = client.post("/v1/agents", json=_an_agent(), headers=headers)
    assert refused.status_code == 403, refused.text
    assert client.get("/v1/agents", headers=headers).status_code == 200
    relogged = _bearer(_login(client, member["email"])["access_token"])
    assert client.post("/v1/agents", json=_an_agent(), headers=relogged).status_code == 403

    removed = client.delete(f"/v1/members/{member['id']}", headers=tenant.auth)
    assert removed.status_code == 204, removed.text
    _assert_unauthorized(client.get("/v1/agents", headers=headers))


def test_the_last_owner_stays(client: TestClient, new_tenant: Callable[..., Tenant]) -> None:
    tenant = new_tenant()
    members = client.get("/v1/members", headers=tenant.auth).json()["items"]
    (owner,) = [m for m in members if m["email"] == tenant.email]
    assert owner["role"] == "owner"

    demote = client.patch(f"/v1/members/{owner['id']}", json={"role": "admin"}, headers=tenant.auth)
    remove = client.delete(f"/v1/members/{owner['id']}", headers=tenant.auth)
    for response in (demote, remove):
        assert response.status_code == 409, response.text
        assert response.headers["content-type"] == PROBLEM
    members = client.get("/v1/members", headers=tenant.auth).json()["items"]
    assert [m["role"] for m in members if m["id"] == owner["id"]] == ["owner"]

    # with a second owner, the first may step down
    second = _add_member(client, tenant, "owner")
    stepped_down = client.patch(
        f"/v1/members/{owner['id']}", json={"role": "admin"}, headers=tenant.auth
    )
    assert stepped_down.status_code == 200, stepped_down.text
    # the owner key acts for the first owner, an admin now: the second owner tries
    second_owner = _bearer(_login(client, second["email"])["access_token"])
    last = client.delete(f"/v1/members/{second['id']}", headers=second_owner)
    assert last.status_code == 409, last.text


def test_a_password_hashed_with_old_parameters_is_rehashed_at_login(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    from argon2 import PasswordHasher
    from sqlalchemy import update

    from voxplane.security.passwords import needs_rehash
    from voxplane.store.models import User

    tenant = new_tenant()
    platform: Platform = client.app.state.platform  # type: ignore[attr-defined]
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(tenant.password)

    async def set_weak() -> None:
        async with platform.db.unit() as session:
            await session.execute(
                update(User).where(User.id == tenant.user_id).values(password_hash=weak)
            )

    async def stored() -> str:
        async with platform.db.unit() as session:
            value = await session.scalar(
                select(User.password_hash).where(User.id == tenant.user_id)
            )
            assert value is not None
            return value

    assert client.portal is not None
    client.portal.call(set_weak)
    assert needs_rehash(client.portal.call(stored))
    _login(client, tenant.email)
    rehashed = client.portal.call(stored)
    assert rehashed != weak
    assert not needs_rehash(rehashed)
    _login(client, tenant.email)  # and the new hash verifies the same password
