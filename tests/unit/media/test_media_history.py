"""AudioHistory: caller audio addressed by caller-audio time, in a ring buffer."""

from __future__ import annotations

import numpy as np

from voxplane.media.history import AudioHistory


def ramp(start: int, stop: int) -> np.ndarray:
    return np.arange(start, stop, dtype=np.int16)


def test_slice_by_time() -> None:
    history = AudioHistory(10)  # 160 samples at 16 kHz
    history.append(ramp(0, 80))
    history.append(ramp(80, 160))
    assert history.end_ms == 10.0
    assert history.slice(2.0, 4.0).tolist() == list(range(32, 64))
    assert len(history.slice(-300.0, 50.0)) == 160  # clipped to what is held
    assert len(history.slice(6.0, 6.0)) == 0


def test_wrap_around_keeps_the_newest_audio() -> None:
    history = AudioHistory(10)
    for start in range(0, 400, 100):
        history.append(ramp(start, start + 100))
    assert history.end_ms == 25.0
    assert history.slice(0.0, 25.0).tolist() == list(range(240, 400))
    assert history.slice(20.0, 25.0).tolist() == list(range(320, 400))  # across the seam


def test_one_append_longer_than_the_buffer() -> None:
    history = AudioHistory(10)
    history.append(ramp(0, 100))
    history.append(ramp(100, 400))
    assert history.end_ms == 25.0  # every sample counts toward time, not only those kept
    assert history.slice(20.0, 25.0).tolist() == list(range(320, 400))
    assert history.slice(0.0, 25.0).tolist() == list(range(240, 400))
