"""Digest authentication: the RFCs' published examples, round trips, server verification."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voxplane.errors import ProtocolError
from voxplane.transports.sip.digest import (
    Challenge,
    Credentials,
    DigestVerifier,
    authorize,
    digest_response,
)

# RFC 2617 §3.5: the challenge and the Authorization the client sends (lines unfolded).
RFC2617_CHALLENGE = (
    'Digest realm="testrealm@host.com", qop="auth,auth-int", '
    'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)
RFC2617_AUTHORIZATION = (
    'Digest username="Mufasa", realm="testrealm@host.com", '
    'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, '
    'nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", '
    'opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)
# RFC 7616 §3.9.1: the SHA-256 challenge; published responses for MD5 and SHA-256.
RFC7616_CHALLENGE = (
    'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, '
    'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
    'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
)
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
RFC7616_RESPONSES = {
    "MD5": "8ca523f5e9506fed4657c9700eebdbec",
    "SHA-256": "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
}


def test_rfc2617_example() -> None:
    challenge = Challenge.parse(RFC2617_CHALLENGE)
    assert challenge.qop == ("auth", "auth-int") and challenge.algorithm == "MD5"
    creds = authorize(
        challenge, username="Mufasa", password="Circle Of Life", method="GET",
        uri="/dir/index.html", cnonce="0a4f113b",
    )  # fmt: skip
    assert creds.response == "6629fae49393a05397450978507c4ef1"
    expected = Credentials.parse(RFC2617_AUTHORIZATION)
    assert creds == replace(expected, algorithm="MD5")
    assert Credentials.parse(creds.encode()) == creds


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_rfc7616_example(algorithm: str) -> None:
    challenge = replace(Challenge.parse(RFC7616_CHALLENGE), algorithm=algorithm)
    creds = authorize(
        challenge, username="Mufasa", password="Circle of Life", method="GET",
        uri="/dir/index.html", cnonce=RFC7616_CNONCE,
    )  # fmt: skip
    assert (creds.qop, creds.nc) == ("auth", "00000001")
    assert creds.response == RFC7616_RESPONSES[algorithm]


def test_challenge_round_trip_and_stale() -> None:
    challenge = Challenge("sip.example.com", 'n"o', "SHA-256-sess", ("auth",), "op", stale=True)
    assert Challenge.parse(challenge.encode()) == challenge


def test_no_qop_and_auth_int_and_sess() -> None:
    plain = authorize(Challenge("r", "n"), username="u", password="p", method="INVITE", uri="sip:x")
    assert (plain.qop, plain.nc, plain.cnonce) == (None, None, None)
    int_only = Challenge("r", "n", "SHA-512-256-sess", ("auth-int",))
    creds = authorize(
        int_only, username="u", password="p", method="INVITE", uri="sip:x", body=b"v=0"
    )
    assert creds.qop == "auth-int"
    assert digest_response(creds, "p", "INVITE", b"v=0") == creds.response
    assert digest_response(creds, "p", "INVITE", b"v=1") != creds.response


@pytest.mark.parametrize(
    "value",
    ["Basic realm=x", "Digest realm=\"x\"", "Digest realm=\"x\", nonce=\"n\", algorithm=SHA-1",
     'Digest realm="x, nonce="n"', "Digest nonsense"],
)  # fmt: skip
def test_bad_challenges_are_protocol_errors(value: str) -> None:
    with pytest.raises(ProtocolError):
        Challenge.parse(value)


def test_verifier_accepts_good_credentials_once_per_nonce_count() -> None:
    verifier = DigestVerifier("trunk.example", b"k" * 32, ttl_s=60)
    challenge = verifier.challenge(now=100.0)
    creds = authorize(
        challenge, username="acme", password="s3cret", method="INVITE", uri="sip:+1@x"
    )
    assert verifier.verify(creds, password="s3cret", method="INVITE", now=110.0) == "ok"
    assert (
        verifier.verify(creds, password="s3cret", method="INVITE", now=111.0) == "invalid"
    )  # replay
    again = authorize(
        challenge, username="acme", password="s3cret", method="INVITE", uri="sip:+1@x", nc=2
    )
    assert verifier.verify(again, password="s3cret", method="INVITE", now=112.0) == "ok"


def test_verifier_refuses_wrong_password_method_realm_and_forged_nonce() -> None:
    verifier = DigestVerifier("trunk.example", b"k" * 32)
    creds = authorize(
        verifier.challenge(now=0.0), username="a", password="pw", method="INVITE", uri="sip:x"
    )
    assert verifier.verify(creds, password="other", method="INVITE", now=1.0) == "invalid"
    assert verifier.verify(creds, password="pw", method="BYE", now=1.0) == "invalid"
    other = DigestVerifier("trunk.example", b"z" * 32)
    assert other.verify(creds, password="pw", method="INVITE", now=1.0) == "invalid"
    forged = authorize(
        Challenge("trunk.example", "AAAA"),
        username="a",
        password="pw",
        method="INVITE",
        uri="sip:x",
    )
    assert verifier.verify(forged, password="pw", method="INVITE", now=1.0) == "invalid"
    no_qop = authorize(
        replace(verifier.challenge(now=0.0), qop=()),
        username="a",
        password="pw",
        method="INVITE",
        uri="sip:x",
    )
    assert verifier.verify(no_qop, password="pw", method="INVITE", now=1.0) == "invalid"


def test_expired_nonce_is_stale_and_a_new_challenge_says_so() -> None:
    verifier = DigestVerifier("trunk.example", b"k" * 32, ttl_s=30)
    creds = authorize(
        verifier.challenge(now=0.0), username="a", password="pw", method="INVITE", uri="sip:x"
    )
    assert verifier.verify(creds, password="pw", method="INVITE", now=31.0) == "stale"
    assert verifier.challenge(now=31.0, stale=True).stale


@settings(max_examples=300)
@given(st.text(max_size=300))
def test_any_header_parses_or_raises_protocol_error(value: str) -> None:
    for text in (value, "Digest " + value):
        for parse in (Challenge.parse, Credentials.parse):
            try:
                parsed = parse(text)
            except ProtocolError:
                continue
            assert type(parsed).parse(parsed.encode()) == parsed


@settings(max_examples=100)
@given(
    st.text(max_size=60),
    st.text(max_size=60),
    st.text(max_size=60),
    st.sampled_from(["MD5", "SHA-256"]),
)
def test_any_credentials_verify_or_not_without_raising(
    user: str, nonce: str, pw: str, algorithm: str
) -> None:
    verifier = DigestVerifier("r", b"k" * 32, algorithm=algorithm)
    creds = authorize(
        Challenge("r", nonce, algorithm, ("auth",)),
        username=user,
        password=pw,
        method="INVITE",
        uri="sip:x",
    )
    parsed = Credentials.parse(creds.encode())
    # a foreign nonce never verifies; the parsed header equals what was built
    assert parsed == creds
    assert verifier.verify(parsed, password=pw, method="INVITE", now=0.0) == "invalid"
