"""VADs on real speech (FSDD digits), digital silence and low-level noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from _media_audio import VADS, MakeVad, fsdd_16k, silence, utterance, white_noise

from voxplane.errors import ModelUnavailableError
from voxplane.media import vad as vad_module
from voxplane.media.frame import Pcm16, to_float
from voxplane.media.vad import (
    EnergyVad,
    SileroModel,
    SileroVad,
    Vad,
    default_silero_model_path,
)

TOLERANCE_MS = 100.0


def _probs(vad: Vad, samples: Pcm16, chunk: int = 320) -> npt.NDArray[np.float64]:
    out: list[float] = []
    for i in range(0, len(samples), chunk):
        out += vad.push(samples[i : i + chunk])
    return np.array(out)


UTTERANCES = [("jackson", "427"), ("nicolas", "190"), ("theo", "853")]


@pytest.mark.parametrize("make_vad", VADS)
@pytest.mark.parametrize(("speaker", "digits"), UTTERANCES)
def test_probability_rises_and_falls_with_speech(
    make_vad: MakeVad, speaker: str, digits: str
) -> None:
    vad = make_vad()
    samples, start_ms, end_ms = utterance(speaker, digits)
    probs = _probs(vad, samples)
    assert len(probs) == len(samples) // vad.window_samples
    window_ends = (np.arange(len(probs)) + 1) * vad.window_ms
    speech = np.flatnonzero(probs >= 0.5)
    first_start = window_ends[speech[0]] - vad.window_ms
    assert abs(first_start - start_ms) <= TOLERANCE_MS
    assert abs(window_ends[speech[-1]] - end_ms) <= TOLERANCE_MS
    inside = probs[(window_ends > start_ms + 50) & (window_ends < end_ms - 50)]
    assert np.mean(inside >= 0.5) >= 0.5
    assert probs.max() >= 0.9
    before = probs[window_ends <= start_ms - TOLERANCE_MS]
    after = probs[window_ends - vad.window_ms >= end_ms + TOLERANCE_MS]
    assert before.max() < 0.2
    assert after.max() < 0.2


@pytest.mark.parametrize("make_vad", VADS)
def test_digital_silence_is_not_speech(make_vad: MakeVad) -> None:
    probs = _probs(make_vad(), silence(16000, 2.0))
    assert len(probs) > 0
    assert probs.max() < 0.1


@pytest.mark.parametrize("make_vad", VADS)
@pytest.mark.parametrize("rms", [10.0, 30.0])  # about -70 and -61 dBFS
def test_low_level_white_noise_is_not_speech(make_vad: MakeVad, rms: float) -> None:
    probs = _probs(make_vad(), white_noise(16000, 3.0, rms))
    assert probs.max() < 0.2


@pytest.mark.parametrize("make_vad", VADS)
def test_chunking_does_not_change_the_result(make_vad: MakeVad) -> None:
    samples, _, _ = utterance("jackson", "427")
    whole = make_vad().push(samples)
    for chunk in (7, 320, 1000, 4096):
        np.testing.assert_allclose(_probs(make_vad(), samples, chunk), whole, atol=1e-6)


@pytest.mark.parametrize("make_vad", VADS)
def test_reset_restarts_from_a_clean_state(make_vad: MakeVad) -> None:
    vad = make_vad()
    samples, _, _ = utterance("nicolas", "190")
    first = _probs(vad, samples)
    vad.push(np.full(100, 8000, dtype=np.int16))  # leaves a loud partial window buffered
    vad.reset()
    np.testing.assert_allclose(_probs(vad, samples), first, atol=1e-6)


def test_energy_vad_learns_stationary_noise_and_still_hears_speech() -> None:
    vad = EnergyVad()
    noise = white_noise(16000, 6.0, 330.0, seed=3)  # about -40 dBFS, above the speech gate
    probs = _probs(vad, noise[: 4 * 16000])
    assert probs[:10].max() >= 0.5  # loud against the initial floor at first...
    assert probs[-50:].max() < 0.5  # ...learned as noise after a few seconds
    speech = fsdd_16k("4_jackson_0.wav")
    noisy_speech = (speech.astype(np.int32) + noise[4 * 16000 : 4 * 16000 + len(speech)]).clip(
        -32768, 32767
    )
    assert _probs(vad, noisy_speech.astype(np.int16)).max() >= 0.9


def test_window_sizes() -> None:
    assert EnergyVad().window_ms == 20.0
    assert SileroVad.window_samples == 512


@pytest.mark.models
def test_silero_model_ships_inside_faster_whisper() -> None:
    path = default_silero_model_path()
    assert path.name == "silero_vad_v6.onnx"
    assert "faster_whisper" in path.parts


def test_missing_faster_whisper_raises_with_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vad_module, "find_spec", lambda name: None)
    with pytest.raises(ModelUnavailableError, match=r"pip install 'voxplane\[local\]'"):
        default_silero_model_path()
    with pytest.raises(ModelUnavailableError):
        SileroVad()


def test_missing_or_corrupt_model_file_raises(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="does not exist"):
        SileroVad(tmp_path / "nope.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(ModelUnavailableError, match="cannot load"):
        SileroVad(junk)


@pytest.mark.models
def test_silero_streaming_matches_faster_whisper_offline() -> None:
    # faster-whisper scores a whole buffer at once with the same context/state scheme.
    from faster_whisper.vad import SileroVADModel

    samples, _, _ = utterance("theo", "853")
    samples = samples[: len(samples) // 512 * 512]
    reference = SileroVADModel(str(default_silero_model_path()))(to_float(samples))
    streamed = _probs(SileroVad(), samples, chunk=320)
    np.testing.assert_allclose(streamed, np.asarray(reference).reshape(-1), atol=1e-5)


@pytest.mark.models
def test_calls_sharing_one_model_keep_their_own_state() -> None:
    speech, _, _ = utterance("theo", "853")
    other, _, _ = utterance("jackson", "20")
    shared = SileroModel()
    alone = _probs(SileroVad(), speech, chunk=320)
    first, second = SileroVad(shared), SileroVad(shared)
    probs_first: list[float] = []
    for start in range(0, len(speech), 320):  # two calls, interleaved on one model
        probs_first += first.push(speech[start : start + 320])
        second.push(other[start : start + 320])
    np.testing.assert_allclose(probs_first, alone, atol=1e-6)
