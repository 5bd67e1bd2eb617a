"""SIP message parsing, serialization, stream framing and response building."""

from __future__ import annotations

import pytest
from _sip_rfc import (
    RFC3665_CALL,
    RFC3665_F1_INVITE,
    RFC3665_F1_SDP,
    RFC3665_F3_OK,
    RFC3665_F5_BYE,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from voxplane.errors import ProtocolError
from voxplane.transports.sip.headers import CSeq, NameAddr, SipUri, Via
from voxplane.transports.sip.message import (
    MAX_HEADERS,
    Headers,
    SipParseError,
    SipRequest,
    SipResponse,
    frame_stream,
    make_response,
    parse_message,
)


@pytest.mark.parametrize("raw", RFC3665_CALL)
def test_rfc3665_messages_round_trip_byte_for_byte(raw: bytes) -> None:
    assert parse_message(raw).encode() == raw


def test_rfc3665_invite_fields() -> None:
    invite = parse_message(RFC3665_F1_INVITE)
    assert isinstance(invite, SipRequest)
    assert (invite.method, invite.uri) == ("INVITE", "sip:bob@biloxi.example.com")
    assert invite.call_id == "3848276298220188511@atlanta.example.com"
    assert invite.cseq == CSeq(1, "INVITE")
    (via,) = invite.vias
    assert (via.transport, via.host, via.port, via.branch) == (
        "TCP", "client.atlanta.example.com", 5060, "z9hG4bK74bf9",
    )  # fmt: skip
    assert invite.from_ == NameAddr(
        "sip:alice@atlanta.example.com", "Alice", (("tag", "9fxced76sl"),)
    )
    assert invite.to.tag is None
    assert invite.contact is not None
    assert SipUri.parse(invite.contact.uri).param("transport") == "tcp"
    assert invite.content_type == "application/sdp"
    assert invite.body == RFC3665_F1_SDP


def test_rfc3665_ok_fields() -> None:
    ok = parse_message(RFC3665_F3_OK)
    assert isinstance(ok, SipResponse)
    assert (ok.status, ok.reason, ok.to.tag) == (200, "OK", "8321234356")
    assert ok.vias[0].received == "192.0.2.101"


def test_compact_forms_and_folded_lines_are_expanded() -> None:
    raw = (
        b"OPTIONS sip:x@example.com SIP/2.0\r\n"
        b"v: SIP/2.0/UDP a.example.com;branch=z9hG4bK1;rport, SIP/2.0/UDP b.example.com\r\n"
        b"f: <sip:a@example.com>;tag=1\r\nt: sip:x@example.com\r\ni: abc\r\n"
        b"CSEQ: 7\r\n OPTIONS\r\nk: timer, replaces\r\nl: 0\r\n\r\n"
    )
    msg = parse_message(raw)
    assert [v.host for v in msg.vias] == ["a.example.com", "b.example.com"]
    assert msg.vias[0].wants_rport and msg.vias[0].rport is None
    assert msg.headers.get("supported") == "timer"
    assert msg.headers.get_all("k") == ("timer", "replaces")
    assert msg.cseq == CSeq(7, "OPTIONS")
    assert msg.to.uri == "sip:x@example.com"
    assert b"\r\nCall-ID: abc\r\n" in msg.encode()


def test_commas_inside_quotes_and_brackets_do_not_split() -> None:
    headers = Headers.of([("Contact", '"Doe, J" <sip:j@x.com;a=1,2>;q=0.5, <sip:k@y.com>')])
    assert headers.get_all("Contact") == ('"Doe, J" <sip:j@x.com;a=1,2>;q=0.5', "<sip:k@y.com>")
    first = NameAddr.parse(headers.get_all("Contact")[0])
    assert (first.display_name, first.uri, first.params) == (
        "Doe, J",
        "sip:j@x.com;a=1,2",
        (("q", "0.5"),),
    )


def test_headers_that_carry_commas_are_not_split() -> None:
    value = 'Digest realm="a, b", nonce="n", qop="auth,auth-int"'
    assert Headers.of([("WWW-Authenticate", value)]).get_all("www-authenticate") == (value,)


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"INVITE sip:x SIP/3.0\r\n\r\n", 505),
        (b"garbage\r\n\r\n", 400),
        (b"INVITE sip:x SIP/2.0\r\nVia SIP/2.0/UDP h\r\n\r\n", 400),
        (b"INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n", 400),  # no blank line
        (b"SIP/2.0 99 Low\r\n\r\n", 400),
        (b"x" * 70_000, 413),
        (b"INVITE sip:x SIP/2.0\r\n" + b"X-A: 1\r\n" * (MAX_HEADERS + 1) + b"\r\n", 400),
    ],
)
def test_malformed_messages_get_the_status_to_answer(raw: bytes, status: int) -> None:
    with pytest.raises(SipParseError) as caught:
        parse_message(raw)
    assert caught.value.status == status


def test_missing_mandatory_header_keeps_the_request_for_the_400() -> None:
    raw = RFC3665_F5_BYE.replace(b"CSeq: 1 BYE\r\n", b"CSeq: 1 INVITE\r\n")
    with pytest.raises(SipParseError) as caught:
        parse_message(raw)
    assert caught.value.status == 400
    assert caught.value.request is not None
    response = make_response(caught.value.request, 400, to_tag="x")
    assert parse_message(response.encode()).status == 400  # type: ignore[union-attr]


def test_content_length_longer_than_the_datagram_is_rejected() -> None:
    with pytest.raises(SipParseError):
        parse_message(RFC3665_F1_INVITE[:-10])


def test_body_beyond_content_length_is_ignored() -> None:
    assert parse_message(RFC3665_F5_BYE + b"trailing").body == b""


def test_make_response_copies_the_transaction_headers_and_adds_a_to_tag() -> None:
    invite = parse_message(RFC3665_F1_INVITE)
    assert isinstance(invite, SipRequest)
    ok = make_response(invite, 200, to_tag="abc", headers=[("Contact", "<sip:v@192.0.2.9>")])
    again = parse_message(ok.encode())
    assert (again.call_id, again.cseq, again.vias, again.from_) == (
        invite.call_id, invite.cseq, invite.vias, invite.from_,
    )  # fmt: skip
    assert again.to.tag == "abc"
    assert again.headers.get("Contact") == "<sip:v@192.0.2.9>"
    trying = make_response(invite, 100, to_tag="abc")
    assert (trying.reason, trying.to.tag) == ("Trying", None)
    ringing = make_response(parse_message(ok.encode()), 180, to_tag="zzz")  # type: ignore[arg-type]
    assert ringing.to.tag == "abc"  # an existing tag is kept


def test_frame_stream_cuts_messages_and_keeps_the_rest() -> None:
    stream = b"\r\n\r\n" + b"".join(RFC3665_CALL)
    frames, rest = frame_stream(stream[:-5])
    assert frames == list(RFC3665_CALL[:-1])
    assert rest == RFC3665_CALL[-1][:-5]
    frames, rest = frame_stream(rest + RFC3665_CALL[-1][-5:])
    assert (frames, rest) == ([RFC3665_CALL[-1]], b"")


def test_frame_stream_requires_content_length_and_bounds_size() -> None:
    with pytest.raises(SipParseError) as missing:
        frame_stream(b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n")
    assert missing.value.status == 400
    with pytest.raises(SipParseError) as big:
        frame_stream(b"OPTIONS sip:x SIP/2.0\r\nl: 99999\r\n\r\n")
    assert big.value.status == 413
    with pytest.raises(SipParseError) as endless:
        frame_stream(b"A" * 70_000)
    assert endless.value.status == 413


@pytest.mark.parametrize(
    "text",
    ["SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bKa;received=2001:db8::2;rport=5061",
     "SIP/2.0/TLS h.example.com;branch=z9hG4bKb"],
)  # fmt: skip
def test_via_round_trip(text: str) -> None:
    via = Via.parse(text)
    assert str(via) == text
    assert Via.parse(str(via.with_params(received="192.0.2.1", rport="9"))).rport == 9


def test_sip_uri_parts() -> None:
    uri = SipUri.parse("sips:alice:pw@[::1]:5061;transport=tls;lr?subject=x")
    assert (uri.scheme, uri.user, uri.host, uri.port, uri.param("lr")) == (
        "sips", "alice:pw", "[::1]", 5061, "",
    )  # fmt: skip
    assert str(uri) == "sips:alice:pw@[::1]:5061;transport=tls;lr?subject=x"
    with pytest.raises(ProtocolError):
        SipUri.parse("tel:+15551234")


_token = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-.", min_size=1, max_size=12)


@given(
    method=st.sampled_from(["INVITE", "BYE", "OPTIONS", "REFER", "INFO"]),
    names=st.tuples(_token, _token, _token, _token),
    seq=st.integers(0, 2**31 - 1),
    body=st.binary(max_size=300),
    extra=st.lists(st.tuples(_token, _token), max_size=5),
)
def test_built_requests_round_trip(
    method: str,
    names: tuple[str, str, str, str],
    seq: int,
    body: bytes,
    extra: list[tuple[str, str]],
) -> None:
    user, host, tag, call_id = names
    headers = Headers.of(
        [
            ("Via", f"SIP/2.0/UDP {host}:5060;branch=z9hG4bK{tag}"),
            ("From", f"<sip:{user}@{host}>;tag={tag}"),
            ("To", f"<sip:{user}@{host}>"),
            ("Call-ID", call_id),
            ("CSeq", f"{seq} {method}"),
            *(("X-" + k, v) for k, v in extra),
        ]
    )
    request = SipRequest(method, f"sip:{user}@{host}", headers, body)
    wire = request.encode()
    parsed = parse_message(wire)
    assert parsed.encode() == wire
    assert parsed.body == body and parsed.cseq == CSeq(seq, method)
    frames, rest = frame_stream(wire + wire)
    assert frames == [wire, wire] and rest == b""


@settings(max_examples=300)
@given(st.binary(max_size=2000))
def test_any_bytes_parse_or_raise_the_protocol_error(data: bytes) -> None:
    for candidate in (data, RFC3665_F1_INVITE[: len(data) % 400] + data):
        try:
            parse_message(candidate)
        except ProtocolError as exc:
            assert exc.status in (400, 413, 505)
        try:
            frame_stream(candidate)
        except ProtocolError as exc:
            assert exc.status in (400, 413)


_header_line = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=80
)


@settings(max_examples=300)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["Via", "From", "To", "Contact", "CSeq", "Call-ID", "v", "m", "Route"]),
            _header_line,
        ),
        max_size=8,
    )
)
def test_mutated_headers_parse_or_raise_the_protocol_error(pairs: list[tuple[str, str]]) -> None:
    head = RFC3665_F5_BYE.split(b"\r\n\r\n")[0]
    raw = head + b"".join(f"\r\n{k}: {v}".encode() for k, v in pairs) + b"\r\n\r\n"
    try:
        msg = parse_message(raw)
    except ProtocolError as exc:
        assert exc.status == 400
    else:
        # whatever parsed must serialize, reparse and expose its typed fields
        assert parse_message(msg.encode()).encode() == msg.encode()
        assert msg.vias and msg.cseq and msg.from_ and msg.to
