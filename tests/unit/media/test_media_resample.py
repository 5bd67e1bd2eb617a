"""Streaming and one-shot resampling."""

from __future__ import annotations

import numpy as np
import pytest
from _media_audio import sine

from voxplane.errors import AudioError
from voxplane.media.frame import Pcm16, samples_per_frame
from voxplane.media.resample import Resampler, resample


def _stream(resampler: Resampler, samples: Pcm16, chunk: int) -> Pcm16:
    parts = [resampler.process(samples[i : i + chunk]) for i in range(0, len(samples), chunk)]
    parts.append(resampler.flush())
    return np.concatenate(parts)


def _peak_hz(samples: Pcm16, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)])


RATE_PAIRS = [(8000, 16000), (16000, 8000), (22050, 8000), (22050, 16000), (48000, 16000)]


@pytest.mark.parametrize(("in_rate", "out_rate"), RATE_PAIRS)
def test_streaming_in_20ms_chunks_matches_one_shot(in_rate: int, out_rate: int) -> None:
    signal = sine(440, in_rate, 1.0) + sine(1234, in_rate, 1.0, amplitude=3000)
    streamed = _stream(Resampler(in_rate, out_rate), signal, samples_per_frame(in_rate))
    whole = resample(signal, in_rate, out_rate)
    assert abs(len(streamed) - len(whole)) <= 2
    assert abs(len(whole) - out_rate) <= 2
    n = min(len(streamed), len(whole))
    diff = np.abs(streamed[:n].astype(np.int32) - whole[:n].astype(np.int32))
    assert diff.max() <= 4


@pytest.mark.parametrize(
    ("in_rate", "out_rate", "freq"), [(8000, 16000, 1000.0), (22050, 8000, 700.0)]
)
def test_sine_keeps_its_frequency(in_rate: int, out_rate: int, freq: float) -> None:
    out = _stream(Resampler(in_rate, out_rate), sine(freq, in_rate, 1.0), in_rate // 50)
    assert _peak_hz(out, out_rate) == pytest.approx(freq, abs=2.0)
    assert _peak_hz(resample(sine(freq, in_rate, 1.0), in_rate, out_rate), out_rate) == (
        pytest.approx(freq, abs=2.0)
    )


@pytest.mark.parametrize(("in_rate", "out_rate"), [(8000, 16000), (22050, 8000)])
def test_state_carries_across_chunks_without_clicks(in_rate: int, out_rate: int) -> None:
    freq = 300.0
    amplitude = 10000.0
    out = _stream(Resampler(in_rate, out_rate), sine(freq, in_rate, 1.0, amplitude), 160)
    # Steady state only: skip the filter's onset and decay at both ends.
    steady = out[out_rate // 10 : -out_rate // 10].astype(np.int32)
    max_step = 2 * np.pi * freq / out_rate * amplitude  # slope of the sine per sample
    assert np.abs(np.diff(steady)).max() <= max_step * 1.05
    # A restarted filter per chunk would instead leave gaps/ramps at every boundary.
    assert np.abs(steady).max() >= amplitude * 0.98


def test_equal_rates_pass_through() -> None:
    resampler = Resampler(16000, 16000)
    chunk = sine(440, 16000, 0.02)
    assert resampler.passthrough
    np.testing.assert_array_equal(resampler.process(chunk), chunk)
    assert resampler.flush().size == 0
    np.testing.assert_array_equal(resample(chunk, 16000, 16000), chunk)


def test_flush_drains_and_restarts() -> None:
    resampler = Resampler(8000, 16000)
    first = _stream(resampler, sine(440, 8000, 0.5), 160)
    second = _stream(resampler, sine(440, 8000, 0.5), 160)
    assert len(first) == len(second) == 8000
    # A fresh filter gives the same output, up to libsoxr's ±2 LSB int16 rounding noise.
    assert np.abs(first.astype(np.int32) - second.astype(np.int32)).max() <= 2


def test_output_dtype_is_int16() -> None:
    resampler = Resampler(8000, 16000)
    out = np.concatenate([resampler.process(sine(440, 8000, 0.2)), resampler.flush()])
    assert out.dtype == np.int16
    assert resample(sine(440, 8000, 0.2), 8000, 16000).dtype == np.int16


def test_bad_input_is_rejected() -> None:
    with pytest.raises(AudioError, match="sample rate 0 Hz"):
        Resampler(0, 16000)
    with pytest.raises(AudioError, match="mono"):
        Resampler(8000, 16000).process(np.zeros((2, 160), dtype=np.int16))
