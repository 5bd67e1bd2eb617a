"""The console's files as ``voxplane serve`` mounts them: served at ``/`` with its security
headers, never in place of an API route, no inline script or style anywhere (the policy
forbids them), and no HTML built from strings in its modules. And the tenant switch the
console's switcher uses."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from conftest import PASSWORD, Tenant, add_member
from voxplane.api.app import create_app
from voxplane.api.console import FILES, mount_console
from voxplane.settings import Settings


@pytest.fixture
def console(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)
    mount_console(app)
    with TestClient(app) as client:
        yield client


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_console_is_served_with_its_security_headers(console: TestClient) -> None:
    page = console.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy and "connect-src 'self'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert '<script type="module" src="/js/app.js">' in page.text

    module = console.get("/js/app.js")
    assert module.status_code == 200
    assert "javascript" in module.headers["content-type"]
    assert "access-control-allow-origin" not in module.headers
    widget = console.get("/widget.js")
    assert widget.status_code == 200 and widget.headers["access-control-allow-origin"] == "*"

    # The API keeps its own answers: an unknown API path is a problem 404, not a page.
    missing = console.get("/v1/no-such-thing")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert console.patch("/v1/agents").status_code == 405  # the API's answer, as without it
    assert console.get("/healthz").json() == {"status": "ok"}
    assert console.get("/no-such-file.js").status_code == 404


def test_no_inline_script_style_or_html_strings_in_the_console() -> None:
    files = [p for p in FILES.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"index.html", "console.css", "app.js", "widget.js"}
    for path in files:
        text = path.read_text()
        if path.suffix == ".html":
            assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), path
            assert not re.search(r"\s(style|on[a-z]+)=", text), path
        if path.suffix == ".js":
            # every string reaches the page as text: no HTML parsing of any kind
            for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
                assert sink not in text, f"{path.name} uses {sink}"
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", ""), path
        assert "https://" not in re.sub(r"https://(www\.example\.com|VOXPLANE)", "", text), path


def test_a_member_of_two_tenants_switches_between_them(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    home, away = new_tenant(), new_tenant()
    add_member(client, away, "viewer", home.email, signed_in=_signed_in(client, home))
    pair = client.post(
        "/v1/auth/login", json={"email": home.email, "password": PASSWORD, "tenant_id": home.id}
    ).json()
    mine = {"Authorization": f"Bearer {pair['access_token']}"}
    tenants = client.get("/v1/auth/tenants", headers=mine).json()
    assert {(t["id"], t["role"], t["current"]) for t in tenants} == {
        (home.id, "owner", True),
        (away.id, "viewer", False),
    }
    # an API key tells only its own tenant
    keyed = client.get("/v1/auth/tenants", headers=home.auth).json()
    assert [t["id"] for t in keyed] == [home.id]

    switched = client.post("/v1/auth/switch", json={"tenant_id": away.id}, headers=mine)
    assert switched.status_code == 200, switched.text
    there = {"Authorization": f"Bearer {switched.json()['access_token']}"}
    assert client.get("/v1/tenant", headers=there).json()["id"] == away.id
    # the session it came from is over
    assert client.get("/v1/tenant", headers=mine).status_code == 401
    spent = client.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert spent.status_code == 401
    # a tenant one is not a member of is one that does not exist; a key cannot switch
    stranger = new_tenant()
    refused = client.post("/v1/auth/switch", json={"tenant_id": stranger.id}, headers=there)
    assert refused.status_code == 404
    assert (
        client.post("/v1/auth/switch", json={"tenant_id": home.id}, headers=home.auth).status_code
        == 403
    )


def _signed_in(client: TestClient, tenant: Tenant) -> dict[str, str]:
    pair = client.post("/v1/auth/login", json={"email": tenant.email, "password": PASSWORD}).json()
    return {"Authorization": f"Bearer {pair['access_token']}"}
