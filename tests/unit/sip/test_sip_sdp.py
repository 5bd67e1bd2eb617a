"""SDP parsing/serialization and RFC 3264 offer/answer."""

from __future__ import annotations

from dataclasses import replace

import pytest
from _sip_rfc import RFC3665_F1_SDP, RFC3665_F3_SDP, RFC4317_2_1_ANSWER, RFC4317_2_1_OFFER
from hypothesis import given, settings
from hypothesis import strategies as st

from voxplane.errors import ProtocolError
from voxplane.transports.sip.offer_answer import (
    LocalMedia,
    MediaPolicy,
    accept_answer,
    answer_offer,
    create_offer,
)
from voxplane.transports.sip.sdp import Connection, parse_sdp

LOCAL = LocalMedia("192.0.2.10", 40000, 777)

SIPP_OFFER = (
    b"v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\nm=audio 6000 RTP/AVP 8 0 96\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-16\r\na=ptime:30\r\n"
)


@pytest.mark.parametrize(
    "raw", [RFC3665_F1_SDP, RFC3665_F3_SDP, RFC4317_2_1_OFFER, RFC4317_2_1_ANSWER, SIPP_OFFER]
)
def test_golden_bodies_round_trip_byte_for_byte(raw: bytes) -> None:
    assert parse_sdp(raw).encode() == raw


def test_rfc4317_offer_fields() -> None:
    offer = parse_sdp(RFC4317_2_1_OFFER)
    audio, video = offer.media
    assert (audio.port, audio.formats, audio.rtpmap(97)) == (
        49170,
        ("0", "8", "97"),
        ("iLBC", 8000),
    )
    assert video.rtpmap(32) == ("MPV", 90000)
    assert offer.connection_of(audio) == Connection("host.atlanta.example.com")
    assert offer.direction_of(audio) == "sendrecv"


def test_rfc4317_answer_to_our_view_of_the_offer() -> None:
    """RFC 4317 §2.1 from Alice's side: Bob accepted PCMU on 49174."""
    session = accept_answer(parse_sdp(RFC4317_2_1_OFFER), parse_sdp(RFC4317_2_1_ANSWER))
    assert (session.codec.name, session.codec.payload_type) == ("PCMU", 0)
    assert (session.remote_address, session.remote_port) == ("host.biloxi.example.com", 49174)
    assert session.direction == "sendrecv" and session.dtmf_payload_type is None


def test_answering_rfc4317_offer_accepts_audio_and_rejects_video() -> None:
    answer, session = answer_offer(parse_sdp(RFC4317_2_1_OFFER), LOCAL)
    audio, video = parse_sdp(answer.encode()).media
    assert (audio.port, audio.formats, audio.attribute("ptime")) == (40000, ("0",), "20")
    assert (video.port, video.formats) == (0, ("31", "32"))
    assert (session.codec.name, session.remote_port, session.remote_rtcp_port) == (
        "PCMU",
        49170,
        49171,
    )
    assert session.sends and session.receives


def test_policy_order_and_telephone_event_payload_type_follow_the_offer() -> None:
    answer, session = answer_offer(
        parse_sdp(SIPP_OFFER), LOCAL, MediaPolicy(codecs=("PCMU", "PCMA"))
    )
    assert (session.codec.name, session.dtmf_payload_type, session.remote_ptime_ms) == (
        "PCMU",
        96,
        30,
    )
    (audio,) = answer.media
    assert audio.formats == ("0", "96")
    assert audio.attributes_named("fmtp") == ("96 0-15",)
    _, pcma = answer_offer(parse_sdp(SIPP_OFFER), LOCAL, MediaPolicy(codecs=("PCMA",)))
    assert pcma.codec.payload_type == 8
    _, no_dtmf = answer_offer(parse_sdp(SIPP_OFFER), LOCAL, MediaPolicy(telephone_event=False))
    assert no_dtmf.dtmf_payload_type is None


def test_no_common_codec_is_488() -> None:
    offer = RFC4317_2_1_OFFER.replace(b"RTP/AVP 0 8 97", b"RTP/AVP 97")
    with pytest.raises(ProtocolError) as caught:
        answer_offer(parse_sdp(offer), LOCAL)
    assert caught.value.status == 488


@pytest.mark.parametrize(
    ("offered", "answered", "sends", "receives"),
    [
        (b"a=sendonly\r\n", "recvonly", False, True),
        (b"a=recvonly\r\n", "sendonly", True, False),
        (b"a=inactive\r\n", "inactive", False, False),
        (b"a=sendrecv\r\n", "sendrecv", True, True),
    ],
)
def test_hold_directions_are_mirrored(
    offered: bytes, answered: str, sends: bool, receives: bool
) -> None:
    answer, session = answer_offer(parse_sdp(SIPP_OFFER + offered), LOCAL)
    assert answer.direction_of(answer.media[0]) == answered
    assert (session.direction, session.sends, session.receives) == (answered, sends, receives)


def test_old_style_hold_with_zero_address_stops_our_sending() -> None:
    offer = SIPP_OFFER.replace(b"c=IN IP4 127.0.0.1", b"c=IN IP4 0.0.0.0")
    answer, session = answer_offer(parse_sdp(offer), LOCAL)
    assert session.direction == "recvonly" and not session.sends
    assert answer.direction_of(answer.media[0]) == "recvonly"


def test_we_can_hold_the_peer() -> None:
    _, session = answer_offer(parse_sdp(SIPP_OFFER), LOCAL, direction="sendonly")
    assert (session.direction, session.receives) == ("sendonly", False)


def test_offer_and_answer_between_two_voxplanes() -> None:
    other = LocalMedia("2001:db8::5", 50000, 1)
    offer = create_offer(LOCAL, MediaPolicy(codecs=("PCMA", "PCMU")))
    answer, theirs = answer_offer(parse_sdp(offer.encode()), other)
    ours = accept_answer(offer, parse_sdp(answer.encode()))
    assert theirs.codec == ours.codec and ours.codec.name == "PCMU"  # answerer's preference
    assert (ours.remote_address, ours.remote_port, ours.dtmf_payload_type) == (
        "2001:db8::5",
        50000,
        101,
    )
    assert answer.connection == Connection("2001:db8::5", addrtype="IP6")


def test_answer_without_our_codec_is_488() -> None:
    offer = create_offer(LOCAL, MediaPolicy(codecs=("PCMU",)))
    answer = parse_sdp(RFC4317_2_1_ANSWER.replace(b"RTP/AVP 0", b"RTP/AVP 8"))
    with pytest.raises(ProtocolError) as caught:
        accept_answer(offer, replace(answer, media=answer.media[:1]))
    assert caught.value.status == 488


def test_malformed_sdp_is_400() -> None:
    for raw in (
        b"",
        b"v=1\r\n",
        b"v=0\r\nbogus\r\n",
        b"v=0\r\ns=x\r\nt=0 0\r\n",
        b"v=0\r\n" + b"a=x\r\n" * 5000,
    ):
        with pytest.raises(ProtocolError) as caught:
            parse_sdp(raw)
        assert caught.value.status in (400, 413)


@settings(max_examples=300)
@given(st.binary(max_size=1500))
def test_any_bytes_parse_and_negotiate_or_raise_the_protocol_error(data: bytes) -> None:
    for candidate in (data, SIPP_OFFER[: len(data) % len(SIPP_OFFER)] + data):
        try:
            sdp = parse_sdp(candidate)
            assert parse_sdp(sdp.encode()) == sdp
            answer_offer(sdp, LOCAL)
        except ProtocolError as exc:
            assert exc.status in (400, 413, 488)


_line = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=40)


@settings(max_examples=300)
@given(st.lists(st.tuples(st.sampled_from("vosctmab"), _line), max_size=12))
def test_structured_garbage_never_escapes(lines: list[tuple[str, str]]) -> None:
    raw = SIPP_OFFER + "".join(f"{k}={v}\r\n" for k, v in lines).encode()
    try:
        sdp = parse_sdp(raw)
        answer_offer(sdp, LOCAL)
        accept_answer(create_offer(LOCAL), sdp)
    except ProtocolError as exc:
        assert exc.status in (400, 413, 488)
