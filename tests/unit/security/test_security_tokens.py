"""Access tokens verify only when ours, unexpired and signed with HS256; opaque token shapes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from voxplane.errors import AuthError, ConfigError
from voxplane.security import AccessClaims, TokenSigner, looks_like, new_token, token_digest

SECRET = b"s" * 32
OTHER_SECRET = b"o" * 32
T0 = 1_700_000_000.0


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _sign(claims: dict[str, object], secret: bytes = SECRET) -> str:
    """An HS256 token built by hand, so claims pyjwt would refuse to encode can be tried."""
    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def _issue(signer: TokenSigner) -> str:
    return signer.issue(user_id="u1", tenant_id="t1", role="admin", session_id="s1")


def _rejects(signer: TokenSigner, token: str) -> None:
    with pytest.raises(AuthError) as caught:
        signer.verify(token)
    assert str(caught.value) == "invalid or expired access token"
    if token:
        assert token not in str(caught.value)


def test_a_hand_signed_token_verifies() -> None:
    claims = {"iss": "voxplane", "sub": "u1", "tid": "t1", "role": "admin", "sid": "s1",
              "iat": int(T0), "exp": int(T0) + 900}  # fmt: skip
    assert TokenSigner(SECRET, clock=Clock()).verify(_sign(claims)).tenant_id == "t1"


def test_round_trip() -> None:
    signer = TokenSigner(SECRET, ttl_s=900, clock=Clock())
    claims = signer.verify(_issue(signer))
    assert claims == AccessClaims(
        user_id="u1", tenant_id="t1", role="admin", session_id="s1", expires_at=int(T0) + 900
    )


def test_expiry_follows_the_injected_clock() -> None:
    clock = Clock()
    signer = TokenSigner(SECRET, ttl_s=60, clock=clock)
    token = _issue(signer)
    clock.now = T0 + 59
    assert signer.verify(token).user_id == "u1"
    clock.now = T0 + 60
    _rejects(signer, token)


def test_tampered_signature_is_rejected() -> None:
    signer = TokenSigner(SECRET, clock=Clock())
    header, payload, signature = _issue(signer).split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    _rejects(signer, f"{header}.{payload}.{flipped}")


def test_tampered_payload_is_rejected() -> None:
    signer = TokenSigner(SECRET, clock=Clock())
    header, _payload, signature = _issue(signer).split(".")
    forged = _b64({"iss": "voxplane", "sub": "u1", "tid": "t2", "role": "owner", "sid": "s1",
                   "iat": int(T0), "exp": int(T0) + 900})  # fmt: skip
    _rejects(signer, f"{header}.{forged}.{signature}")


def test_alg_none_is_rejected() -> None:
    signer = TokenSigner(SECRET, clock=Clock())
    claims = {"iss": "voxplane", "sub": "u1", "tid": "t1", "role": "owner", "sid": "s1",
              "iat": int(T0), "exp": int(T0) + 900}  # fmt: skip
    for alg in ("none", "None", "NONE"):
        header = _b64({"alg": alg, "typ": "JWT"})
        _rejects(signer, f"{header}.{_b64(claims)}.")


def test_another_secret_is_rejected() -> None:
    ours = TokenSigner(SECRET, clock=Clock())
    theirs = TokenSigner(OTHER_SECRET, clock=Clock())
    _rejects(ours, _issue(theirs))


def test_another_issuer_is_rejected() -> None:
    ours = TokenSigner(SECRET, clock=Clock())
    theirs = TokenSigner(SECRET, issuer="someone-else", clock=Clock())
    _rejects(ours, _issue(theirs))


@pytest.mark.parametrize("missing", ["exp", "iat", "iss", "sub", "tid", "role", "sid"])
def test_a_missing_claim_is_rejected(missing: str) -> None:
    claims: dict[str, object] = {"iss": "voxplane", "sub": "u1", "tid": "t1", "role": "admin",
                                 "sid": "s1", "iat": int(T0), "exp": int(T0) + 900}  # fmt: skip
    del claims[missing]
    _rejects(TokenSigner(SECRET, clock=Clock()), jwt.encode(claims, SECRET, algorithm="HS256"))


@pytest.mark.parametrize(
    ("claim", "value"), [("exp", "9999999999"), ("exp", True), ("tid", 7), ("role", "")]
)
def test_a_claim_of_the_wrong_type_is_rejected(claim: str, value: object) -> None:
    claims: dict[str, object] = {"iss": "voxplane", "sub": "u1", "tid": "t1", "role": "admin",
                                 "sid": "s1", "iat": int(T0), "exp": int(T0) + 900}  # fmt: skip
    claims[claim] = value
    _rejects(TokenSigner(SECRET, clock=Clock()), jwt.encode(claims, SECRET, algorithm="HS256"))


@pytest.mark.parametrize(
    "token", ["", "garbage", "a.b.c", "eyJ.eyJ.x", "....", "vxp_" + "a" * 43, "é.ü.ß"]
)
def test_garbage_is_rejected(token: str) -> None:
    _rejects(TokenSigner(SECRET, clock=Clock()), token)


@given(st.text(max_size=300))
def test_any_text_is_rejected_with_auth_error(token: str) -> None:
    with pytest.raises(AuthError):
        TokenSigner(SECRET, clock=Clock()).verify(token)


@given(st.text(max_size=80), st.text(max_size=80))
def test_any_payload_and_signature_under_a_valid_header_are_rejected(
    payload: str, signature: str
) -> None:
    token = ".".join([_b64({"alg": "HS256", "typ": "JWT"}), payload, signature])
    with pytest.raises(AuthError):
        TokenSigner(SECRET, clock=Clock()).verify(token)


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["voxplane", "u1", ""]),
    st.lists(st.integers(), max_size=2),
)


@given(
    st.dictionaries(
        st.sampled_from(["exp", "iat", "iss", "sub", "tid", "role", "sid", "aud", "nbf"]), _VALUES
    )
)
def test_signed_tokens_with_any_claim_values_verify_or_raise_auth_error(
    claims: dict[str, object],
) -> None:
    token = _sign(claims)
    try:
        verified = TokenSigner(SECRET, clock=Clock()).verify(token)
    except AuthError:
        return
    assert isinstance(verified.expires_at, int)
    assert verified.expires_at > T0
    assert all(isinstance(v, str) and v for v in (verified.user_id, verified.tenant_id))


def test_short_secret_and_bad_ttl_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        TokenSigner(b"x" * 31)
    with pytest.raises(ConfigError):
        TokenSigner(SECRET, ttl_s=0)
    assert "sss" not in repr(TokenSigner(SECRET))


def test_new_token_shape_and_uniqueness() -> None:
    tokens = {new_token("vxp") for _ in range(100)}
    assert len(tokens) == 100
    for token in tokens:
        assert re.fullmatch(r"vxp_[A-Za-z0-9_-]{43}", token)
        assert looks_like(token, "vxp")
        assert not looks_like(token, "vxr")


@pytest.mark.parametrize(
    "token",
    ["", "vxp_", "vxp_short", "vxr_" + "a" * 43, "vxp" + "a" * 44, "vxp_" + "a" * 42 + "!",
     "vxp_" + "a" * 129, " vxp_" + "a" * 43, "vxp_" + "a" * 43 + "\n"],
)  # fmt: skip
def test_looks_like_rejects_wrong_shapes(token: str) -> None:
    assert not looks_like(token, "vxp")


def test_token_digest_is_sha256_hex_and_not_the_token() -> None:
    token = new_token("vxr")
    digest = token_digest(token)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert digest == token_digest(token)
    assert digest != token_digest(new_token("vxr"))
    assert token_digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
