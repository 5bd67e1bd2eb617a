"""Outbound registration as pure values: the REGISTERs of one binding, what the
registrar's answer grants, when to renew or retry, and the digest answer to a 401/407."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voxplane.transports.sip.digest import Credentials, DigestVerifier, answer_challenge
from voxplane.transports.sip.message import Headers, SipResponse, parse_message
from voxplane.transports.sip.register import (
    MAX_RETRY_S,
    RETRY_S,
    Binding,
    granted_expires,
    min_expires,
    refresh_after,
    retry_after,
)

CONTACT = "sip:acme@198.51.100.7:5060"
VIA = "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKreg1;rport"


def _binding(registrar: str = "sip.carrier.example:5070", transport: str = "UDP") -> Binding:
    return Binding(registrar, "acme", CONTACT, transport, call_id="reg-1@voxplane", tag="t1")


def _response(status: int, *headers: tuple[str, str]) -> SipResponse:
    return SipResponse(status, "X", Headers.of(headers))


def test_one_binding_registers_refreshes_and_unregisters_with_one_call_id() -> None:
    binding, first = _binding().request(via=VIA)
    binding, refresh = binding.request(via=VIA)
    _, removal = binding.request(via=VIA, expires=0)
    wire = parse_message(first.encode())
    assert wire.method == "REGISTER" and wire.uri == "sip:sip.carrier.example:5070"
    assert wire.headers.get("To") == "<sip:acme@sip.carrier.example>"
    assert wire.from_.tag == "t1" and wire.to.tag is None
    assert wire.headers.get("Contact") == f"<{CONTACT}>"
    assert [r.cseq.seq for r in (first, refresh, removal)] == [1, 2, 3]
    assert {r.call_id for r in (first, refresh, removal)} == {"reg-1@voxplane"}
    assert [r.headers.get("Expires") for r in (first, refresh, removal)] == ["3600"] * 2 + ["0"]


def test_tcp_and_ipv6_registrars() -> None:
    _, request = _binding(registrar="[2001:db8::5]:5060", transport="TCP").request(via=VIA)
    assert request.uri == "sip:[2001:db8::5]:5060;transport=tcp"
    assert request.headers.get("To") == "<sip:acme@[2001:db8::5]>"


def test_the_grant_comes_from_our_contact_then_expires_then_what_we_asked() -> None:
    ours = ("Contact", f"<{CONTACT}>;expires=120")
    someone_else = ("Contact", "<sip:acme@203.0.113.1>;expires=9")
    assert (
        granted_expires(_response(200, someone_else, ours, ("Expires", "60")), CONTACT, 3600) == 120
    )
    assert granted_expires(_response(200, someone_else, ("Expires", "60")), CONTACT, 3600) == 60
    assert (
        granted_expires(_response(200, ("Contact", "<junk"), ("Expires", "x")), CONTACT, 300) == 300
    )


@given(st.integers(min_value=1, max_value=10**9))
def test_a_binding_is_renewed_before_it_lapses(granted: int) -> None:
    renew = refresh_after(granted)
    assert renew >= 1.0
    assert renew < granted or granted == 1
    if granted > 120:
        assert granted - renew == 60  # a minute's slack on long grants


def test_retry_follows_retry_after_else_backs_off_to_an_hour() -> None:
    assert retry_after(_response(503, ("Retry-After", "30 (maintenance);duration=60")), 1) == 30
    assert retry_after(_response(503, ("Retry-After", "999999")), 1) == MAX_RETRY_S
    assert [retry_after(None, n) for n in (1, 2, 3)] == [RETRY_S, 2 * RETRY_S, 4 * RETRY_S]
    assert retry_after(_response(403), 20) == MAX_RETRY_S
    assert min_expires(_response(423, ("Min-Expires", "1800"))) == 1800
    assert min_expires(_response(403, ("Min-Expires", "1800"))) is None


@pytest.mark.parametrize(("status", "asks", "answers"), [
    (401, "WWW-Authenticate", "Authorization"),
    (407, "Proxy-Authenticate", "Proxy-Authorization"),
])  # fmt: skip
def test_a_challenge_is_answered_with_the_digest_of_the_request(
    status: int, asks: str, answers: str
) -> None:
    verifier = DigestVerifier("carrier.test", b"k" * 16)
    _, request = _binding().request(via=VIA)
    challenge = _response(status, (asks, verifier.challenge(1000.0).encode()))
    header = answer_challenge(challenge, request, username="acme", password="pw")
    assert header is not None and header[0] == answers
    credentials = Credentials.parse(header[1])
    assert credentials.uri == request.uri
    assert verifier.verify(credentials, password="pw", method="REGISTER", now=1001.0) == "ok"
    # no challenge to answer: None
    assert answer_challenge(_response(403), request, username="acme", password="pw") is None
    bad = _response(401, ("WWW-Authenticate", "Basic realm=x"))
    assert answer_challenge(bad, request, username="acme", password="pw") is None
