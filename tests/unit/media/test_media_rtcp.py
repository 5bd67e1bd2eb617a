"""RTCP SR/RR/SDES/BYE and the RFC 3550 receiver statistics."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voxplane.errors import ProtocolError
from voxplane.media.rtcp import (
    Goodbye,
    ReceiverReport,
    ReceiverStats,
    ReportBlock,
    RtcpOther,
    RtcpPacket,
    SenderReport,
    SourceDescription,
    encode_rtcp,
    ntp_middle,
    ntp_timestamp,
    parse_rtcp,
)

# RFC 3550 §6.4.2 layout written out by hand: V=2 RC=1 PT=201 length=7, SSRC 0x01020304;
# block: SSRC 0x0a0b0c0d, fraction 0x19, cumulative lost -2 (0xfffffe), highest 0x00010005,
# jitter 0x20, LSR 0x11223344, DLSR 0x00008000.
RR_HEX = "81c90007010203040a0b0c0d19fffffe00010005000000201122334400008000"


def test_receiver_report_layout() -> None:
    block = ReportBlock(0x0A0B0C0D, 0x19, -2, 0x10005, 0x20, 0x11223344, 0x8000)
    assert encode_rtcp([ReceiverReport(0x01020304, (block,))]).hex() == RR_HEX
    assert parse_rtcp(bytes.fromhex(RR_HEX)) == [ReceiverReport(0x01020304, (block,))]


def test_compound_sender_report_with_cname_and_bye_round_trips() -> None:
    packets: list[RtcpPacket] = [
        SenderReport(5, ntp_timestamp(1_700_000_000.25), 160_000, 1000, 160_000, ()),
        SourceDescription(5, "voxplane@192.0.2.10"),
        Goodbye((5,), "call ended"),
        RtcpOther(204, 3, b"name1234"),
    ]
    wire = encode_rtcp(packets)
    assert len(wire) % 4 == 0
    assert parse_rtcp(wire) == packets


def test_ntp_conversion() -> None:
    assert ntp_timestamp(0.0) == 2_208_988_800 << 32
    assert ntp_timestamp(0.5) & 0xFFFF_FFFF == 1 << 31
    assert ntp_middle(0x1122_3344_5566_7788) == 0x3344_5566


@pytest.mark.parametrize(
    "raw",
    [b"\x81", b"\x81\xc9\x00\x07" + bytes(4), b"\x41\xc9\x00\x00", b"\x81\xc8\x00\x01abcd", b""],
)
def test_malformed_rtcp_raises_protocol_error(raw: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_rtcp(raw)


def _feed(stats: ReceiverStats, seqs: list[int], delays: list[float] | None = None) -> None:
    for i, seq in enumerate(seqs):
        delay = delays[i % len(delays)] if delays else 0.0
        stats.on_packet(seq % 65536, (seq * 160) % 2**32, seq * 0.02 + delay)


def test_no_loss_reports_zero() -> None:
    stats = ReceiverStats(ssrc=9)
    _feed(stats, list(range(100, 200)))
    block = stats.report(now=5.0)
    assert (block.fraction_lost, block.cumulative_lost, block.highest_seq) == (0, 0, 199)
    assert block.jitter == 0


def test_loss_fraction_and_cumulative_per_interval() -> None:
    stats = ReceiverStats(ssrc=9)
    _feed(stats, [s for s in range(0, 102) if s % 10 != 5])  # 10 of 101 after probation lost
    first = stats.report(now=3.0)
    assert first.cumulative_lost == 10
    assert first.fraction_lost == (10 << 8) // 101
    _feed(stats, list(range(102, 202)))
    second = stats.report(now=5.0)
    assert (second.fraction_lost, second.cumulative_lost) == (0, 10)


def test_sequence_wrap_extends_the_highest_sequence() -> None:
    stats = ReceiverStats(ssrc=9)
    _feed(stats, list(range(65530, 65536 + 11)))
    block = stats.report(now=1.0)
    assert block.highest_seq == 65536 + 10
    assert block.cumulative_lost == 0


def test_duplicates_make_loss_negative_as_rfc3550_allows() -> None:
    stats = ReceiverStats(ssrc=9)
    _feed(stats, [1, 2, 3, 3, 4])
    assert stats.report(now=1.0).cumulative_lost == -1


def test_interarrival_jitter_follows_a8() -> None:
    stats = ReceiverStats(ssrc=9)
    _feed(stats, list(range(400)), delays=[0.0, 0.01])  # 10 ms = 80 units, every packet
    assert 78 <= stats.report(now=9.0).jitter <= 80


def test_jitter_estimate_moves_one_sixteenth_per_packet() -> None:
    """A.8: J += (|D| - J) / 16; one packet 20 ms (160 units) late changes D twice."""
    stats = ReceiverStats(ssrc=9)
    _feed(stats, list(range(10)))
    stats.on_packet(10, 1600, 10 * 0.02 + 0.02)
    assert stats.jitter == 10.0
    stats.on_packet(11, 1760, 11 * 0.02)
    assert stats.report(now=1.0).jitter == int(10 + (160 - 10) / 16)


def test_restarted_source_is_reinitialised_after_two_sequential_packets() -> None:
    stats = ReceiverStats(ssrc=9)
    _feed(stats, list(range(10)))
    assert stats.on_packet(40_000, 0, 1.0) is False
    assert stats.on_packet(40_001, 160, 1.02) is True
    assert stats.report(now=2.0).highest_seq == 40_001


def test_lsr_and_dlsr_echo_the_last_sender_report() -> None:
    stats = ReceiverStats(ssrc=9)
    _feed(stats, [0, 1, 2])
    sr = SenderReport(9, 0x1122_3344_5566_7788, 0, 0, 0)
    stats.on_sender_report(sr, now=10.0)
    block = stats.report(now=10.5)
    assert (block.lsr, block.dlsr) == (0x3344_5566, 32768)


_u32 = st.integers(0, 2**32 - 1)
_blocks = st.lists(
    st.builds(
        ReportBlock,
        _u32,
        st.integers(0, 255),
        st.integers(-(2**23), 2**23 - 1),
        _u32,
        _u32,
        _u32,
        _u32,
    ),
    max_size=3,
).map(tuple)
_packet = st.one_of(
    st.builds(SenderReport, _u32, st.integers(0, 2**64 - 1), _u32, _u32, _u32, _blocks),
    st.builds(ReceiverReport, _u32, _blocks),
    st.builds(SourceDescription, _u32, st.text(alphabet="abcxyz@.0123", max_size=40)),
    st.builds(
        Goodbye, st.lists(_u32, max_size=4).map(tuple), st.text(alphabet="abc ", max_size=20)
    ),
)


@given(st.lists(_packet, min_size=1, max_size=4))
def test_any_compound_packet_round_trips(packets: list[RtcpPacket]) -> None:
    assert parse_rtcp(encode_rtcp(packets)) == packets


@settings(max_examples=500)
@given(st.binary(max_size=300))
def test_any_bytes_parse_or_raise_protocol_error(data: bytes) -> None:
    try:
        packets = parse_rtcp(data)
    except ProtocolError:
        return
    assert packets and all(isinstance(p, RtcpPacket) for p in packets)


@settings(max_examples=200)
@given(st.lists(st.tuples(st.integers(0, 65535), _u32, st.floats(0, 100)), max_size=80))
def test_any_packet_sequence_gives_an_encodable_report(items: list[tuple[int, int, float]]) -> None:
    stats = ReceiverStats(ssrc=1)
    for seq, ts, now in items:
        stats.on_packet(seq, ts, now)
    block = stats.report(now=200.0)
    assert 0 <= block.fraction_lost <= 255
    assert parse_rtcp(encode_rtcp([ReceiverReport(1, (block,))]))[0] == ReceiverReport(
        1, (ReportBlock.parse(block.encode(), 0),)
    )
