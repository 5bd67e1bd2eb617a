"""RFC 4733 DTMF: payloads, the receiver on sipp's real packets, the sender's plan."""

from __future__ import annotations

import numpy as np
import pytest
from _rtp_captures import DTMF_9, DTMF_9_OFFSETS_MS, DTMF_POUND_END, DTMF_POUND_FIRST
from hypothesis import given, settings
from hypothesis import strategies as st

from voxplane.errors import ProtocolError
from voxplane.media.dtmf import (
    DtmfReceiver,
    KeyPress,
    TelephoneEvent,
    dtmf_plan,
    dtmf_tones,
)
from voxplane.media.g711 import ulaw_decode, ulaw_encode
from voxplane.media.rtp import RtpPacket, RtpSender
from voxplane.testing.dtmf import detect_keys


def _feed(receiver: DtmfReceiver, packets: list[RtpPacket], start: float = 0.0) -> list[KeyPress]:
    presses: list[KeyPress] = []
    for i, packet in enumerate(packets):
        presses += receiver.on_packet(packet, start + i * 0.02)
    return presses


def test_sipp_key_9_payloads() -> None:
    events = [TelephoneEvent.parse(RtpPacket.parse(p).payload) for p in DTMF_9]
    assert {(e.event, e.volume, e.key) for e in events} == {(9, 10, "9")}
    assert [e.duration for e in events] == [0, 320, 640, 960, 1280, 1600, 1920, 2240, 2240, 2240]
    assert [e.end for e in events] == [False] * 7 + [True] * 3
    assert all(TelephoneEvent.parse(p[12:]).encode() == p[12:] for p in DTMF_9)


def test_sipp_key_9_gives_exactly_one_press() -> None:
    presses = _feed(DtmfReceiver(), [RtpPacket.parse(p) for p in DTMF_9])
    assert presses == [KeyPress("9", 280, 0x10900)]


def test_two_keys_with_lost_end_packets_still_give_one_press_each() -> None:
    nine = [RtpPacket.parse(p) for p in DTMF_9[:5]]  # never ends
    pound = [RtpPacket.parse(DTMF_POUND_FIRST), RtpPacket.parse(DTMF_POUND_END)]
    receiver = DtmfReceiver()
    presses = _feed(receiver, [*nine, *pound, pound[1], nine[0]])
    assert [p.key for p in presses] == ["9", "#"]
    assert presses[0].duration_ms == 1280 // 8  # the last duration seen


def test_an_unfinished_event_expires() -> None:
    receiver = DtmfReceiver(timeout_s=1.0)
    assert _feed(receiver, [RtpPacket.parse(p) for p in DTMF_9[:3]]) == []
    assert receiver.expire(0.5) is None
    assert receiver.expire(1.05) == KeyPress("9", 80, 0x10900)
    assert receiver.expire(5.0) is None
    assert _feed(receiver, [RtpPacket.parse(p) for p in DTMF_9[3:]], start=2.0) == []


def test_plan_has_the_shape_of_the_sipp_packets() -> None:
    """Our 140 ms '9' has sipp's packet train: marker first, an update every 20 ms, 3 ends.

    sipp's capture counts durations at 16 units per ms (320 per 20 ms packet); RFC 4733
    §2.5.1.3 counts in timestamp units (8 per ms at 8 kHz), so ours are half of sipp's.
    """
    plan = dtmf_plan("9", duration_ms=140, volume=10)
    ours = [TelephoneEvent.parse(p.payload) for p in plan]
    theirs = [TelephoneEvent.parse(p[12:]) for p in DTMF_9]
    assert [(e.event, e.end, e.volume) for e in ours] == [
        (e.event, e.end, e.volume) for e in theirs
    ]
    assert [2 * e.duration for e in ours] == [e.duration for e in theirs]
    assert [p.marker for p in plan] == [RtpPacket.parse(p).marker for p in DTMF_9]
    assert tuple(p.offset_ms for p in plan) == DTMF_9_OFFSETS_MS


def test_plan_through_the_sender_is_received_as_one_key() -> None:
    sender = RtpSender(0, ssrc=5, sequence=10, timestamp=2**32 - 80)
    packets = [sender.event(101, sender.timestamp, p.payload, p.marker) for p in dtmf_plan("#")]
    assert {p.timestamp for p in packets} == {2**32 - 80}
    assert [p.sequence for p in packets] == list(range(10, 18))
    assert _feed(DtmfReceiver(), packets) == [KeyPress("#", 100, 2**32 - 80)]


@pytest.mark.parametrize("key", ["x", "", "12"])
def test_plan_rejects_non_keys(key: str) -> None:
    with pytest.raises(ValueError, match="DTMF"):
        dtmf_plan(key)


def test_short_payload_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        TelephoneEvent.parse(b"\x01\x02")


@given(st.sampled_from("0123456789*#ABCD"), st.integers(40, 2000), st.permutations(range(8)))
def test_reordered_plans_give_one_press(key: str, duration: int, order: list[int]) -> None:
    sender = RtpSender(0, ssrc=1, sequence=0, timestamp=1000)
    packets = [
        sender.event(101, 1000, p.payload, p.marker) for p in dtmf_plan(key, duration_ms=duration)
    ]
    shuffled = [packets[i] for i in order if i < len(packets)] + packets[8:]
    presses = _feed(DtmfReceiver(), shuffled)
    assert [p.key for p in presses] == [key]


@settings(max_examples=300)
@given(
    st.lists(st.tuples(st.binary(min_size=0, max_size=8), st.integers(0, 2**32 - 1)), max_size=30)
)
def test_any_payloads_give_keys_or_protocol_errors(items: list[tuple[bytes, int]]) -> None:
    receiver = DtmfReceiver()
    for i, (payload, timestamp) in enumerate(items):
        try:
            presses = receiver.on_packet(RtpPacket(101, i, timestamp, 1, payload), i * 0.02)
        except ProtocolError:
            continue
        assert all(p.key in "0123456789*#ABCD" for p in presses)


@pytest.mark.parametrize("rate", [8000, 16000])
def test_tones_carry_every_key_through_a_phone_line(rate: int) -> None:
    tones = dtmf_tones("0123456789*#ABCD", rate)
    # 100 ms of silence first, then each key 100 ms of tone and 100 ms of silence
    assert len(tones) == rate * (100 + 16 * 200) // 1000
    assert not tones[: rate // 10].any()
    line = ulaw_decode(ulaw_encode(tones)) if rate == 8000 else tones
    assert detect_keys(line, rate) == "0123456789*#ABCD"
    assert int(np.max(np.abs(tones))) <= 0.5 * 32767  # two tones at a quarter of full scale


def test_tones_refuse_what_is_not_a_key() -> None:
    assert dtmf_tones("", 8000).size == 0
    with pytest.raises(ValueError, match="not a DTMF key"):
        dtmf_tones("12x", 8000)
    with pytest.raises(ValueError, match="at least 40"):
        dtmf_tones("1", 8000, tone_ms=20)
