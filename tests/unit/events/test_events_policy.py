"""The pure parts of events: the SSRF URL policy, signatures, backoff, the vocabulary."""

from __future__ import annotations

import asyncio
import ipaddress
from datetime import timedelta

import pytest
from pydantic import ValidationError

from voxplane.errors import InvalidError
from voxplane.events import Event, new_event
from voxplane.events.delivery import DeliveryOptions, backoff_s
from voxplane.events.signing import sign, signature_header, verify
from voxplane.net.urlpolicy import BlockedAddress, parse_url, refusal, resolve


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "100.64.0.1",
        "::1",
        "fd00::1",
        "::ffff:10.0.0.1",
    ],
)
def test_private_and_loopback_are_refused_unless_allowed(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert refusal(ip, allow_private=False) is not None
    assert refusal(ip, allow_private=True) is None


@pytest.mark.parametrize(
    "address", ["169.254.169.254", "fe80::1", "0.0.0.0", "::", "224.0.0.1", "240.0.0.1"]
)
def test_link_local_and_reserved_are_refused_always(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), allow_private=True) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700::1111", "8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), allow_private=False) is None


@pytest.mark.parametrize(
    "url",
    [
        "gopher://a.example/",
        "https://a:b@hooks.example/",
        "https:///nohost",
        "https://hooks.example/#frag",
        "http://localhost:8080/",
        "http://api.localhost/",
        "http://[::1]:80/",
        "http://2130706433/",  # 127.0.0.1 as one number: not an IP literal, resolved later
        "https://hooks.example:99999/",
    ],
)
def test_bad_urls_are_invalid_or_left_to_resolution(url: str) -> None:
    try:
        target = parse_url(url, allow_private=False)
    except InvalidError as error:
        assert error.field == "url"
        return
    # What parses must still be refused once resolved.
    with pytest.raises(BlockedAddress):
        asyncio.run(resolve(target, allow_private=False))


def test_a_url_splits_into_its_pinned_parts() -> None:
    target = parse_url("https://hooks.example.com/a/b?x=1", allow_private=False)
    assert (target.scheme, target.host, target.port, target.path) == (
        "https",
        "hooks.example.com",
        443,
        "/a/b?x=1",
    )
    assert parse_url("http://127.0.0.1:8099", allow_private=True).port == 8099


def test_resolution_checks_every_address_of_a_name() -> None:
    loopback = parse_url("http://localhost:9/", allow_private=True)
    with pytest.raises(BlockedAddress, match="loopback"):
        asyncio.run(resolve(loopback, allow_private=False))
    assert asyncio.run(resolve(loopback, allow_private=True)).is_loopback


def test_signatures_verify_with_any_secret_in_force_and_only_fresh() -> None:
    body = b'{"id":"evt_1"}'
    header = signature_header(["whsec_new", "whsec_old"], 1_700_000_000, body)
    assert header.startswith("t=1700000000,v1=")
    assert verify("whsec_new", header, body, now=1_700_000_010)
    assert verify("whsec_old", header, body, now=1_700_000_010)
    assert not verify("whsec_other", header, body, now=1_700_000_010)
    assert not verify("whsec_new", header, body + b" ", now=1_700_000_010)
    assert not verify("whsec_new", header, body, now=1_700_000_000 + 3600)  # stale
    assert not verify("whsec_new", "v1=" + sign("whsec_new", 1, body), body, now=1)
    # The signed content is "<timestamp>.<body>", as documented for receivers.
    import hashlib
    import hmac

    expected = hmac.new(b"whsec_new", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert f"v1={expected}" in header


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    options = DeliveryOptions(backoff_base_s=1.0, backoff_max_s=60.0)
    for attempt in range(1, 12):
        step = min(60.0, 2.0 ** (attempt - 1))
        waits = [backoff_s(attempt, options) for _ in range(50)]
        assert all(step / 2 <= w <= step for w in waits)
        assert len(set(waits)) > 1  # jittered
    # Over 24 h with a 5 s base and an hour's cap: about thirty tries.
    default = DeliveryOptions()
    total, attempts = 0.0, 0
    while total < default.retry_window.total_seconds():
        attempts += 1
        total += min(default.backoff_max_s, default.backoff_base_s * 2 ** (attempts - 1))
    assert 25 <= attempts <= 35
    assert default.retry_window == timedelta(hours=24)


def test_events_round_trip_and_refuse_what_is_not_in_the_vocabulary() -> None:
    event = new_event("call.ended", "ten_01ABC", call_id="cal_1", duration_s=4.5)
    assert Event.from_json(event.to_json()) == event
    assert event.routing_key == "ten_01ABC.call.ended"
    assert new_event("call.started", "t").priority > new_event("agent.updated", "t").priority
    raw = event.model_dump(mode="json")
    for broken in (
        {**raw, "type": "call.exploded"},
        {**raw, "id": "not-an-id"},
        {**raw, "tenant_id": "a.b"},  # would break the routing key
        {**raw, "extra": 1},
    ):
        with pytest.raises(ValidationError):
            Event.model_validate(broken)
    with pytest.raises(ValidationError):
        Event.from_json(b"{not json")
