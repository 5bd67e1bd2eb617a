"""The recording timeline: each channel where the clock puts it, gaps silent, cleared
agent audio cut, settled audio read out interleaved."""

from __future__ import annotations

import numpy as np

from voxplane.media.stereo import AGENT, CALLER, StereoTimeline


def _read(raw: bytes) -> np.ndarray:
    return np.frombuffer(raw, dtype=np.int16).reshape(-1, 2)


def ones(n: int, value: int = 1) -> np.ndarray:
    return np.full(n, value, dtype=np.int16)


def test_channels_land_at_their_times_with_silence_between() -> None:
    timeline = StereoTimeline(initial_capacity=4)
    timeline.put(CALLER, ones(3, 5), at=2)
    timeline.put(AGENT, ones(2, 7), at=4)
    out = _read(timeline.finish())
    assert out[:, 0].tolist() == [0, 0, 5, 5, 5, 0]
    assert out[:, 1].tolist() == [0, 0, 0, 0, 7, 7]


def test_audio_faster_than_real_time_follows_the_channel_instead_of_overwriting() -> None:
    timeline = StereoTimeline()
    timeline.put(CALLER, ones(4, 1), at=0)
    timeline.put(CALLER, ones(4, 2), at=1)  # a burst: arrived early
    assert _read(timeline.finish())[:, 0].tolist() == [1, 1, 1, 1, 2, 2, 2, 2]


def test_truncate_cuts_unplayed_agent_audio_and_the_next_answer_starts_there() -> None:
    timeline = StereoTimeline()
    timeline.put(AGENT, ones(10, 3), at=0)
    timeline.truncate(AGENT, at=4)
    assert timeline.cursor(AGENT) == 4
    timeline.put(AGENT, ones(2, 9), at=6)
    assert _read(timeline.finish())[:, 1].tolist() == [3, 3, 3, 3, 0, 0, 9, 9]


def test_take_reads_out_settled_audio_once_and_never_writes_before_it() -> None:
    timeline = StereoTimeline(initial_capacity=2)
    timeline.put(CALLER, np.arange(1, 7, dtype=np.int16), at=0)
    first = _read(timeline.take(4))
    assert first[:, 0].tolist() == [1, 2, 3, 4] and timeline.base == 4
    timeline.put(AGENT, ones(3, 8), at=1)  # late: lands at the first sample not taken
    rest = _read(timeline.finish())
    assert rest.tolist() == [[5, 8], [6, 8], [0, 8]]
    assert timeline.take(2) == b""
