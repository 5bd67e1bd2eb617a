"""The jitter buffer: order, duplicates, late packets, concealment, gaps, wraparound."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from voxplane.media.jitter import JitterBuffer, JitterConfig, PlayoutFrame
from voxplane.media.rtp import RtpPacket

FRAME = 160


def _packet(i: int, ts0: int = 1000, seq0: int = 0, marker: bool = False) -> RtpPacket:
    payload = bytes([i % 256]) * FRAME
    return RtpPacket(0, (seq0 + i) % 65536, (ts0 + i * FRAME) % 2**32, 7, payload, marker)


def _run(
    buffer: JitterBuffer, arrivals: list[tuple[float, RtpPacket]], until: float
) -> list[PlayoutFrame]:
    """Push packets at their arrival times and pop on a 20 ms clock until ``until``."""
    frames: list[PlayoutFrame] = []
    pending = sorted(arrivals, key=lambda a: a[0])
    tick = 0.0
    while tick <= until:
        while pending and pending[0][0] <= tick:
            arrival, packet = pending.pop(0)
            buffer.push(packet, arrival)
        while (frame := buffer.pop(tick)) is not None:
            frames.append(frame)
        tick = round(tick + 0.005, 3)
    return frames


def _ids(frames: list[PlayoutFrame]) -> list[int | str]:
    return [f.payload[0] if f.status == "ok" else f.status for f in frames]


def test_in_order_stream_plays_every_packet_after_the_depth() -> None:
    buffer = JitterBuffer(JitterConfig(min_depth_s=0.06, max_depth_s=0.06))
    frames = _run(buffer, [(0.02 * i, _packet(i)) for i in range(20)], until=0.5)
    assert _ids(frames)[:20] == list(range(20))
    assert buffer.stats.played == 20 and buffer.stats.late == 0


def test_first_frame_waits_for_the_depth() -> None:
    buffer = JitterBuffer(JitterConfig(min_depth_s=0.06, max_depth_s=0.06))
    buffer.push(_packet(0), 1.0)
    assert buffer.pop(1.0) is None and buffer.pop(1.055) is None
    frame = buffer.pop(1.06)
    assert frame is not None and frame.status == "ok"


def test_reordered_and_duplicated_packets_play_once_in_order() -> None:
    order = [0, 2, 1, 3, 3, 5, 4, 6, 7, 6]
    buffer = JitterBuffer()
    frames = _run(buffer, [(0.02 * n, _packet(i)) for n, i in enumerate(order)], until=0.4)
    assert _ids(frames)[:8] == list(range(8))
    # the second 3 arrives while 3 waits (duplicate); the second 6 after 6 played (late)
    assert (buffer.stats.duplicates, buffer.stats.late) == (1, 1)


def test_loss_repeats_once_then_plays_silence() -> None:
    kept = [0, 1, 2, 5, 6]  # 3 and 4 lost
    buffer = JitterBuffer(JitterConfig(min_depth_s=0.04, max_depth_s=0.04))
    frames = _run(buffer, [(0.02 * i, _packet(i)) for i in kept], until=0.2)
    assert _ids(frames)[:7] == [0, 1, 2, "repeated", "silence", 5, 6]
    assert frames[3].payload == bytes([2]) * FRAME
    assert frames[4].payload == b"\xff" * FRAME
    assert [f.timestamp for f in frames[:7]] == [1000 + FRAME * i for i in range(7)]
    assert buffer.stats.concealed >= 2


def test_too_late_packet_is_dropped() -> None:
    buffer = JitterBuffer(JitterConfig(min_depth_s=0.04, max_depth_s=0.04))
    arrivals = [(0.02 * i, _packet(i)) for i in (0, 1, 2, 4, 5)] + [(0.3, _packet(3))]
    frames = _run(buffer, arrivals, until=0.4)
    assert _ids(frames)[:6] == [0, 1, 2, "repeated", 4, 5]
    assert buffer.stats.late == 1


def test_sequence_and_timestamp_wraparound() -> None:
    buffer = JitterBuffer()
    arrivals = [(0.02 * i, _packet(i, ts0=2**32 - 3 * FRAME, seq0=65533)) for i in range(8)]
    frames = _run(buffer, arrivals, until=0.4)
    assert _ids(frames)[:8] == list(range(8))
    assert [f.timestamp for f in frames[:5]] == [2**32 - 480, 2**32 - 320, 2**32 - 160, 0, 160]


def test_a_pause_then_a_new_talkspurt_plays_without_the_pause_as_lag() -> None:
    buffer = JitterBuffer(JitterConfig(min_depth_s=0.04, max_depth_s=0.1))
    first = [(0.02 * i, _packet(i)) for i in range(5)]
    # the sender stops for 1 s (timestamps jump by 8000) and starts again with a marker
    later = [(1.1 + 0.02 * i, _packet(55 + i, marker=i == 0)) for i in range(5)]
    frames = _run(buffer, first + later, until=1.4)
    ok = [f for f in frames if f.status == "ok"]
    assert [f.payload[0] for f in ok] == [0, 1, 2, 3, 4, 55, 56, 57, 58, 59]
    # the first frame of the new talkspurt plays within the depth of its arrival
    index = frames.index(ok[5])
    assert index * 0.02 < 1.1 + 0.1 + 0.1 + 0.02


def test_burst_beyond_the_maximum_depth_drops_the_oldest() -> None:
    buffer = JitterBuffer(JitterConfig(min_depth_s=0.04, max_depth_s=0.1))
    for i in range(30):  # 600 ms of audio arriving at once
        buffer.push(_packet(i), 0.0)
    assert buffer.stats.overflow > 0
    frames = _run(buffer, [], until=1.0)
    played = [f.payload[0] for f in frames if f.status == "ok"]
    assert played == sorted(played) and played[-1] == 29 and len(played) <= 7


def test_depth_adapts_to_jitter_within_bounds() -> None:
    jittery = JitterBuffer(JitterConfig(min_depth_s=0.02, max_depth_s=0.2))
    for i in range(200):
        jittery.push(_packet(i), 0.02 * i + (0.06 if i % 2 else 0.0))
    assert 0.02 < jittery.depth_s <= 0.2
    fixed = JitterBuffer(JitterConfig(min_depth_s=0.05, max_depth_s=0.05))
    for i in range(200):
        fixed.push(_packet(i), 0.02 * i + (0.06 if i % 2 else 0.0))
    assert fixed.depth_s == 0.05


def test_a_restarted_sender_resets_the_buffer() -> None:
    buffer = JitterBuffer()
    _run(buffer, [(0.02 * i, _packet(i)) for i in range(3)], until=0.1)
    buffer.push(_packet(0, ts0=1000 + 8000 * 60), 0.12)
    assert buffer.stats.resets == 1


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(st.integers(0, 40), st.integers(0, 2**32 - 1), st.booleans(), st.floats(0, 0.3)),
        max_size=60,
    ),
    st.integers(0, 2**32 - 1),
)
def test_any_arrival_pattern_keeps_the_invariants(
    items: list[tuple[int, int, bool, float]], base: int
) -> None:
    buffer = JitterBuffer()
    now = 0.0
    timestamps: list[int] = []
    for index, jump, marker, delay in items:
        ts = (base + index * FRAME + (jump if index % 7 == 0 else 0)) % 2**32
        buffer.push(RtpPacket(0, index, ts, 1, bytes(FRAME), marker), now + delay)
        now += 0.02
        while (frame := buffer.pop(now)) is not None:
            assert len(frame.payload) == FRAME
            timestamps.append(frame.timestamp)
    assert len(buffer._packets) <= buffer.config.max_packets


def test_silence_is_the_codecs_own() -> None:
    from voxplane.media.g711 import alaw_decode, ulaw_decode

    for pt, decode in ((0, ulaw_decode), (8, alaw_decode)):
        config = JitterConfig.for_payload_type(pt, min_depth_s=0.02, max_depth_s=0.02)
        buffer = JitterBuffer(config)
        frames = _run(buffer, [(0.0, _packet(0)), (0.1, _packet(5))], until=0.12)
        silence = next(f for f in frames if f.status == "silence")
        assert abs(decode(silence.payload)).max() <= 8


def test_ready_gives_a_frame_next_in_order_as_it_arrives() -> None:
    buffer = JitterBuffer(JitterConfig(min_depth_s=0.06, max_depth_s=0.06))
    buffer.push(_packet(0), 1.0)
    frame = buffer.ready()
    assert frame is not None and frame.status == "ok" and frame.payload[0] == 0
    assert buffer.ready() is None  # nothing else has come
    assert buffer.pop(1.06) is None  # its playout time: already given, not given again
    buffer.push(_packet(1), 1.02)
    assert _ids([f for f in [buffer.ready()] if f is not None]) == [1]
    assert buffer.stats.played == 2 and buffer.stats.concealed == 0


def test_ready_holds_frames_behind_a_missing_one_until_it_comes() -> None:
    buffer = JitterBuffer(JitterConfig(min_depth_s=0.06, max_depth_s=0.06))
    buffer.push(_packet(0), 1.0)
    buffer.push(_packet(2), 1.04)
    assert _ids(list(iter(buffer.ready, None))) == [0]
    buffer.push(_packet(1), 1.045)  # reordered: came after 2, before its playout time
    assert _ids(list(iter(buffer.ready, None))) == [1, 2]
    assert buffer.stats.concealed == 0 and buffer.stats.late == 0


def test_ready_waits_for_a_lost_frame_only_until_it_is_due() -> None:
    buffer = JitterBuffer(JitterConfig(min_depth_s=0.06, max_depth_s=0.06))
    buffer.push(_packet(0), 1.0)
    buffer.push(_packet(2), 1.04)
    assert _ids(list(iter(buffer.ready, None))) == [0]
    assert buffer.pop(1.079) is None  # frame 1 is due at 1.0 + 0.06 + 0.02
    assert _ids([f for f in [buffer.pop(1.08)] if f is not None]) == ["repeated"]
    assert _ids(list(iter(buffer.ready, None))) == [2]
    buffer.push(_packet(1), 1.09)  # too late: concealed already
    assert buffer.ready() is None and buffer.stats.late == 1
