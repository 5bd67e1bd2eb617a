"""SIP trunks over the API and the ingress check, on SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from test_api_resources import _agent, _number

from conftest import Tenant
from voxplane.errors import InvalidError, NotFoundError
from voxplane.services.platform import Platform
from voxplane.services.trunks import InboundTrunk
from voxplane.store.models import SipTrunk


def _platform(client: TestClient) -> Platform:
    platform: Platform = client.app.state.platform  # type: ignore[attr-defined]
    return platform


def _call(client: TestClient, function: Callable[..., Any], *args: Any) -> Any:
    assert client.portal is not None
    return client.portal.call(function, *args)


def _match(client: TestClient, dialled: str, source: str) -> InboundTrunk | None:
    result: InboundTrunk | None = _call(
        client, _platform(client).trunks.match_inbound, dialled, source
    )
    return result


def _routed_number(client: TestClient, tenant: Tenant) -> str:
    number = _number()
    body = {"number": number, "agent_id": _agent(client, tenant)}
    assert client.post("/v1/phone-numbers", json=body, headers=tenant.auth).status_code == 201
    return number


def _trunk(client: TestClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    body.setdefault("name", f"carrier-{secrets.token_hex(3)}")
    response = client.post("/v1/sip-trunks", json=body, headers=tenant.auth)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_a_trunk_is_created_normalised_and_its_passwords_never_shown(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    inbound_pw, outbound_pw = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    created = _trunk(
        client,
        tenant,
        name="carrier",
        inbound_addresses=["127.0.0.1", "10.1.0.0/16", "2001:DB8::/32"],
        inbound_auth={"username": "pbx", "password": inbound_pw},
        outbound_address="SIP.Carrier.example:5080",
        outbound_auth={"username": "acme", "password": outbound_pw, "registrar": "[::1]:5060"},
    )
    assert created["inbound_addresses"] == ["127.0.0.1/32", "10.1.0.0/16", "2001:db8::/32"]
    assert created["inbound_auth"] == {"username": "pbx", "password": "••••••••"}
    assert created["outbound_address"] == "sip.carrier.example:5080"
    assert created["outbound_transport"] == "udp"
    assert created["outbound_auth"] == {
        "username": "acme",
        "password": "••••••••",
        "registrar": "[::1]:5060",
    }
    shown = [
        client.get(f"/v1/sip-trunks/{created['id']}", headers=tenant.auth).text,
        client.get("/v1/sip-trunks", headers=tenant.auth).text,
        client.get("/v1/audit-events", headers=tenant.auth).text,
    ]
    for text in shown:
        assert inbound_pw not in text and outbound_pw not in text
    assert "sip_trunk.create" in shown[2]

    # At rest the passwords are sealed, not stored.
    table = SipTrunk.__table__

    async def stored() -> bytes:
        async with _platform(client).db.engine.connect() as connection:
            result = await connection.execute(select(table.c.sealed))
            return b"".join(row[0] for row in result if row[0] is not None)

    blob = _call(client, stored)
    assert inbound_pw.encode() not in blob and outbound_pw.encode() not in blob

    duplicate = client.post("/v1/sip-trunks", json={"name": "carrier"}, headers=tenant.auth)
    assert duplicate.status_code == 409, duplicate.text


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"inbound_addresses": ["10.0.0.1/8"]}, "body.inbound_addresses[0]", "10.0.0.0/8"),
        ({"inbound_addresses": ["127.0.0.1", "300.1.1.1"]}, "body.inbound_addresses[1]", "IPv4"),
        ({"inbound_addresses": ["fe80::1/129"]}, "body.inbound_addresses[0]", "CIDR"),
        ({"inbound_addresses": ["0.0.0.0/0"]}, "inbound_addresses", "inbound_auth"),
        ({"outbound_address": "sip carrier:5060"}, "body.outbound_address", "host[:port]"),
        ({"outbound_address": "carrier.example:70000"}, "body.outbound_address", "port"),
        ({"outbound_address": "[not-v6]:5060"}, "body.outbound_address", "IPv6"),
        ({"inbound_auth": {"username": 'a"b', "password": "x"}}, "body.inbound_auth.username", ""),
        ({"inbound_auth": {"username": "a", "password": ""}}, "body.inbound_auth.password", ""),
    ],
)
def test_bad_trunks_are_422s_naming_the_field(
    client: TestClient,
    new_tenant: Callable[..., Tenant],
    body: dict[str, Any],
    field: str,
    words: str,
) -> None:
    tenant = new_tenant()
    response = client.post("/v1/sip-trunks", json={"name": "t", **body}, headers=tenant.auth)
    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert error["field"] == field
    assert words in error["message"]
    assert client.get("/v1/sip-trunks", headers=tenant.auth).json()["items"] == []


def test_the_ingress_check_matches_the_number_tenants_trunks_only(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    a, b = new_tenant(), new_tenant()
    number = _routed_number(client, a)
    assert _match(client, number, "127.0.0.1") is None  # no trunk yet: nobody may call
    # Another tenant's trunk allowing the address does not open A's number.
    _trunk(
        client,
        b,
        inbound_addresses=["127.0.0.0/8", "::/0"],
        inbound_auth={"username": "b", "password": "b-secret"},
    )
    assert _match(client, number, "127.0.0.1") is None

    password = secrets.token_urlsafe(10)
    plain = _trunk(client, a, name="office", inbound_addresses=["192.0.2.0/24"])
    authed = _trunk(
        client,
        a,
        name="carrier",
        inbound_addresses=["127.0.0.1/32", "2001:db8::/32"],
        inbound_auth={"username": "pbx", "password": password},
    )
    found = _match(client, number, "127.0.0.1")
    assert found == InboundTrunk(authed["id"], a.id, "carrier", "pbx", password)
    assert found.requires_auth and password not in repr(found)
    assert _match(client, number, "::ffff:127.0.0.1") == found  # a dual-stack socket's view
    assert _match(client, number, "2001:db8::7") == found
    office = _match(client, number, "192.0.2.55")
    assert office is not None and (office.trunk_id, office.requires_auth) == (plain["id"], False)
    for stranger in ("127.0.0.2", "2001:db9::1", "not an address", ""):
        assert _match(client, number, stranger) is None, stranger
    for unknown in (_number(), "+1911", "garbage"):
        with pytest.raises(NotFoundError):
            _match(client, unknown, "127.0.0.1")


def test_patch_changes_only_what_it_names_and_put_replaces_everything(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    number = _routed_number(client, tenant)
    trunk = _trunk(
        client,
        tenant,
        inbound_addresses=["127.0.0.1"],
        inbound_auth={"username": "pbx", "password": "in-secret"},
        outbound_address="127.0.0.1:5070",
        outbound_transport="tcp",
        outbound_auth={"username": "out", "password": "out-secret"},
    )
    url = f"/v1/sip-trunks/{trunk['id']}"
    patched = client.patch(url, json={"inbound_addresses": ["::1"]}, headers=tenant.auth)
    assert patched.status_code == 200, patched.text
    assert patched.json()["inbound_addresses"] == ["::1/128"]
    assert patched.json()["inbound_auth"] == trunk["inbound_auth"]
    found = _match(client, number, "::1")
    assert found is not None and found.password == "in-secret"
    outbound = _call(client, _platform(client).trunks.outbound, tenant.id, trunk["id"])
    assert (outbound.address, outbound.transport) == ("127.0.0.1:5070", "tcp")
    assert (outbound.username, outbound.password) == ("out", "out-secret")

    dropped = client.patch(url, json={"inbound_auth": None}, headers=tenant.auth)
    assert dropped.json()["inbound_auth"] is None
    found = _match(client, number, "::1")
    assert found is not None and not found.requires_auth
    outbound = _call(client, _platform(client).trunks.outbound, tenant.id, trunk["id"])
    assert outbound.password == "out-secret"  # the other password survives the reseal

    replaced = client.put(url, json={"name": "renamed"}, headers=tenant.auth)
    assert replaced.status_code == 200, replaced.text
    body = replaced.json()
    assert (body["name"], body["inbound_addresses"], body["outbound_address"]) == (
        "renamed",
        [],
        None,
    )
    assert (body["outbound_auth"], body["outbound_transport"]) == (None, "udp")
    with pytest.raises(InvalidError):
        _call(client, _platform(client).trunks.outbound, tenant.id, trunk["id"])

    other = _trunk(client, tenant, name="other")
    clash = client.patch(url, json={"name": "other"}, headers=tenant.auth)
    assert clash.status_code == 409, clash.text
    assert client.delete(f"/v1/sip-trunks/{other['id']}", headers=tenant.auth).status_code == 204
    assert client.get(f"/v1/sip-trunks/{other['id']}", headers=tenant.auth).status_code == 404
    events = client.get("/v1/audit-events", headers=tenant.auth).json()["items"]
    actions = [e["action"] for e in events if e["target_type"] == "sip_trunk"]
    assert actions == [
        "sip_trunk.delete",
        "sip_trunk.create",
        *["sip_trunk.update"] * 3,
        "sip_trunk.create",
    ]
    assert "in-secret" not in str(events) and "out-secret" not in str(events)


def test_outbound_calls_are_checked_before_anything_is_dialled(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    a, b = new_tenant(), new_tenant()
    number = _routed_number(client, a)
    agent_id = client.get("/v1/agents", headers=a.auth).json()["items"][0]["id"]
    trunk = _trunk(client, a, outbound_address="127.0.0.1:5070")
    bare = _trunk(client, a)
    good = {"agent_id": agent_id, "to": "+14155550100", "from": number, "trunk_id": trunk["id"]}
    for change, field in [
        ({"to": "+1911"}, "to"),
        ({"to": "12345"}, "to"),
        ({"from": "+14155550199"}, "from"),  # not one of A's numbers
        ({"agent_id": "agt_nothing"}, "agent_id"),
        ({"trunk_id": bare["id"]}, "trunk_id"),  # no outbound_address
    ]:
        response = client.post("/v1/calls/outbound", json={**good, **change}, headers=a.auth)
        assert response.status_code == 422, (change, response.text)
        assert response.json()["errors"][0]["field"] == field
    # B can use none of A's objects, and learns nothing about them.
    foreign = client.post("/v1/calls/outbound", json=good, headers=b.auth)
    assert foreign.status_code == 422, foreign.text
    # All checked, but this API process has no SIP endpoint to dial with.
    response = client.post("/v1/calls/outbound", json=good, headers=a.auth)
    assert response.status_code == 503, response.text


def test_trunks_that_register_are_listed_for_the_endpoint_and_changes_announced(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    first, second = new_tenant(), new_tenant()
    trunks = _platform(client).trunks
    changes: list[int] = []
    trunks.on_change = lambda: changes.append(1)
    try:
        registering = _trunk(
            client,
            first,
            outbound_address="sip.carrier.example",
            outbound_auth={"username": "acme", "password": "reg-pw", "registrar": "reg.example"},
        )
        _trunk(  # credentials for challenges only: not registered
            client, second, outbound_auth={"username": "other", "password": "x-pw"}
        )
        listed = [t for t in _call(client, trunks.registrations) if t.tenant_id == first.id]
        assert [(t.trunk_id, t.registrar, t.username, t.password) for t in listed] == [
            (registering["id"], "reg.example", "acme", "reg-pw")
        ]
        assert all(t.tenant_id != second.id for t in _call(client, trunks.registrations))
        path = f"/v1/sip-trunks/{registering['id']}"
        patched = client.patch(path, json={"outbound_auth": None}, headers=first.auth)
        assert patched.status_code == 200
        listed = [t for t in _call(client, trunks.registrations) if t.tenant_id == first.id]
        assert listed == []
        assert client.delete(path, headers=first.auth).status_code == 204
        assert len(changes) == 4  # two creates, a change, a delete
    finally:
        trunks.on_change = None


def test_a_trunk_whose_secret_cannot_be_opened_does_not_stop_the_others_registering(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    first, second = new_tenant(), new_tenant()
    platform = _platform(client)
    auth = {"username": "acme", "password": "reg-pw", "registrar": "reg.example"}
    broken = _trunk(client, first, outbound_address="sip.a.example", outbound_auth=auth)
    kept = _trunk(client, second, outbound_address="sip.b.example", outbound_auth=auth)

    async def tamper() -> None:  # a key rotated away, or a corrupted row
        async with platform.db.unit() as session:
            row = await session.get(SipTrunk, broken["id"])
            assert row is not None and row.sealed is not None
            row.sealed = row.sealed[:-1] + bytes([row.sealed[-1] ^ 1])

    _call(client, tamper)
    ours = {first.id, second.id}
    listed = [t for t in _call(client, platform.trunks.registrations) if t.tenant_id in ours]
    assert [t.trunk_id for t in listed] == [kept["id"]]
