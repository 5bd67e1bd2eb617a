"""RTP packets and the sender: golden captures, round trips, wraparound, fuzzing."""

from __future__ import annotations

import pytest
from _rtp_captures import DTMF_9, G711A_FIRST
from hypothesis import given, settings
from hypothesis import strategies as st

from voxplane.errors import ProtocolError
from voxplane.media.rtp import RtpExtension, RtpPacket, RtpSender, is_rtcp, seq_delta, ts_delta


def test_sipp_g711a_packet_fields_and_round_trip() -> None:
    packet = RtpPacket.parse(G711A_FIRST)
    assert (packet.payload_type, packet.marker, packet.sequence) == (8, True, 0xE6FD)
    assert (packet.timestamp, packet.ssrc) == (0xF0, 0xDEE0EE8F)
    assert packet.payload == b"\xd5" * 240 and packet.csrcs == () and packet.extension is None
    assert packet.encode() == G711A_FIRST


@pytest.mark.parametrize("raw", DTMF_9)
def test_sipp_dtmf_packets_round_trip(raw: bytes) -> None:
    assert RtpPacket.parse(raw).encode() == raw


def test_csrc_extension_and_padding_round_trip() -> None:
    packet = RtpPacket(
        0, 65535, 2**32 - 1, 7, b"abc", True, (1, 2, 3), RtpExtension(0xBEDE, b"\x10\xff\0\0"), 5
    )
    wire = packet.encode()
    assert wire[0] == 0b1011_0011  # V=2, P, X, CC=3
    assert len(wire) == 12 + 12 + 8 + 3 + 5
    assert RtpPacket.parse(wire) == packet


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x80" * 11,
        b"\x40" + bytes(11),
        b"\x8f" + bytes(11),
        b"\x90" + bytes(13),
        b"\xa0" + bytes(11),
    ],
)
def test_malformed_packets_raise_protocol_error(raw: bytes) -> None:
    with pytest.raises(ProtocolError):
        RtpPacket.parse(raw)


def test_sender_numbers_packets_and_marks_talkspurts() -> None:
    sender = RtpSender(0, ssrc=1, sequence=65534, timestamp=2**32 - 160)
    first, second, third = (sender.audio(bytes(160)) for _ in range(3))
    assert [p.sequence for p in (first, second, third)] == [65534, 65535, 0]
    assert [p.timestamp for p in (first, second, third)] == [2**32 - 160, 0, 160]
    assert [p.marker for p in (first, second, third)] == [True, False, False]
    sender.skip(800)  # 100 ms not sent: the next packet starts a talkspurt
    fourth = sender.audio(bytes(160))
    assert (fourth.timestamp, fourth.marker, fourth.sequence) == (1120, True, 1)
    event = sender.event(101, fourth.timestamp, b"\x01\x0a\x00\x00", True)
    assert (event.sequence, event.payload_type, event.timestamp) == (2, 101, 1120)
    assert sender.audio(bytes(160)).timestamp == 1280  # events do not move the audio clock
    assert (sender.packets_sent, sender.octets_sent) == (6, 5 * 160 + 4)


def test_random_initial_values_differ_between_senders() -> None:
    senders = [RtpSender(0) for _ in range(8)]
    assert len({(s.ssrc, s.sequence, s.timestamp) for s in senders}) == 8


def test_wraparound_deltas() -> None:
    assert seq_delta(2, 65534) == 4 and seq_delta(65534, 2) == -4
    assert ts_delta(100, 2**32 - 60) == 160 and ts_delta(2**32 - 60, 100) == -160


def test_rtcp_demultiplexing() -> None:
    assert not is_rtcp(G711A_FIRST)
    assert is_rtcp(bytes([0x81, 201, 0, 1, 0, 0, 0, 1]))


_words = st.binary(max_size=12).map(lambda b: b + bytes(-len(b) % 4))


@given(
    st.builds(
        RtpPacket,
        payload_type=st.integers(0, 127), sequence=st.integers(0, 65535),
        timestamp=st.integers(0, 2**32 - 1), ssrc=st.integers(0, 2**32 - 1),
        payload=st.binary(max_size=200), marker=st.booleans(),
        csrcs=st.lists(st.integers(0, 2**32 - 1), max_size=15).map(tuple),
        extension=st.none() | st.builds(RtpExtension, st.integers(0, 65535), _words),
        padding=st.sampled_from([0, 1, 4, 255]),
    )
)  # fmt: skip
def test_any_packet_round_trips(packet: RtpPacket) -> None:
    assert RtpPacket.parse(packet.encode()) == packet


@settings(max_examples=500)
@given(st.binary(max_size=400))
def test_any_bytes_parse_or_raise_protocol_error(data: bytes) -> None:
    try:
        packet = RtpPacket.parse(data)
    except ProtocolError:
        return
    assert packet.encode() == data or packet.padding  # padding bytes are not kept verbatim
