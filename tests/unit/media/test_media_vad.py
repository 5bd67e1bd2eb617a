"""VADs on real speech (FSDD digits), digital silence and low-level noise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from _media_audio import VADS, MakeVad, fsdd_16k, silence, sine, utterance, white_noise

from voxplane.errors import ModelUnavailableError
from voxplane.media import vad as vad_module
from voxplane.media.frame import Pcm16, to_float
from voxplane.media.turn import TurnDetector, TurnEnded, TurnSettings
from voxplane.media.vad import (
    DEFAULT_SILERO_GATE,
    EnergyVad,
    SileroHold,
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
    streamed = _probs(SileroVad(gate=None), samples, chunk=320)
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


def _turns(vad: Vad, samples: Pcm16) -> list[tuple[float, float]]:
    detector, now_ms, found = TurnDetector(TurnSettings(end_of_speech_ms=300)), 0.0, []
    for prob in _probs(vad, samples):
        now_ms += vad.window_ms
        found += [
            (e.start_ms, e.end_ms)
            for e in detector.update(float(prob), now_ms, vad.window_ms)
            if isinstance(e, TurnEnded)
        ]
    return found


@pytest.mark.models
@pytest.mark.parametrize(("speaker", "digits"), UTTERANCES)
@pytest.mark.parametrize("noise_rms", [0.0, 30.0])  # digital silence; about -61 dBFS
def test_the_gate_skips_the_quiet_and_finds_the_same_turns(
    speaker: str, digits: str, noise_rms: float
) -> None:
    speech, _, _ = utterance(speaker, digits)
    line = np.concatenate([speech, silence(16000, 2.0)]).astype(np.float64)
    line += white_noise(16000, len(line) / 16000, noise_rms, seed=5)[: len(line)]
    samples = np.clip(line, -32768, 32767).astype(np.int16)
    model = SileroModel()
    gated = SileroVad(model)
    expected = _turns(SileroVad(model, gate=None), samples)
    found = _turns(gated, samples)
    assert len(found) == len(expected) >= 1
    for (start, end), (want_start, want_end) in zip(found, expected, strict=True):
        assert abs(start - want_start) <= 64 and abs(end - want_end) <= 64  # two windows
    assert gated.windows_skipped >= 0.3 * (gated.windows_run + gated.windows_skipped)


@pytest.mark.models
def test_the_gate_never_skips_loud_audio_or_speech() -> None:
    model = SileroModel()
    vad = SileroVad(model)
    _probs(vad, white_noise(16000, 2.0, 3000.0))  # about -21 dBFS: never quiet enough
    assert vad.windows_skipped == 0
    vad = SileroVad(model)
    samples, start_ms, end_ms = utterance("jackson", "427")
    _probs(vad, samples)
    windows = len(samples) // vad.window_samples
    speech_windows = (end_ms - start_ms) / vad.window_ms
    assert vad.windows_skipped > 0
    assert vad.windows_run >= speech_windows  # the quiet around it is what was skipped
    assert vad.windows_run + vad.windows_skipped == windows


def test_the_gate_is_off_when_asked() -> None:
    vad = SileroVad(gate=None)
    _probs(vad, silence(16000, 1.0))
    assert vad.windows_skipped == 0
    assert vad.windows_run == 16000 // 512


class _CountingSession:
    def __init__(self, session: Any) -> None:
        self.session, self.sizes = session, list[int]()

    def run(self, names: Any, feed: dict[str, Any]) -> Any:
        self.sizes.append(len(feed["input"]))
        return self.session.run(names, feed)


def _pushed(vad: SileroVad, samples: Pcm16) -> list[tuple[int, float, float, float]]:
    """Per 20-ms push: how many windows it scored, and pending_ms, quiet_ms and peek()."""
    out = []
    for i in range(0, len(samples), 320):
        probs = vad.push(samples[i : i + 320])
        out.append((len(probs), vad.pending_ms, vad.quiet_ms, vad.peek() or 0.0))
    return out


@pytest.mark.models
@pytest.mark.parametrize(("speaker", "digits"), UTTERANCES)
def test_held_windows_run_together_and_score_as_one_by_one(speaker: str, digits: str) -> None:
    """Windows of confident speech wait (at most three) and run in one sequence: the same
    scores as window by window, in fewer runs; those waiting count as pending audio, and
    every window is scored once the voice falls."""
    speech, _, _ = utterance(speaker, digits)
    samples = np.concatenate([speech, silence(16000, 0.5)])
    model = SileroModel()
    held, plain = SileroVad(model), SileroVad(model, hold=None)
    runs = held._session = _CountingSession(held._session)
    plain._session = _CountingSession(plain._session)
    np.testing.assert_allclose(_probs(held, samples), _probs(plain, samples), atol=1e-5)
    assert held.windows_run == plain.windows_run and held.pending_ms == plain.pending_ms
    assert len(runs.sizes) < 0.7 * len(plain._session.sizes)
    assert runs.sizes.count(4) > 1  # 3 held + the next (the gate opening runs up to 9)
    held.reset()
    steps = _pushed(held, samples)
    assert [s[2] for s in steps] == [s[2] for s in _pushed(SileroVad(model, hold=None), samples)]
    assert max(s[1] for s in steps) >= 3 * held.window_ms  # waiting windows are pending
    assert steps[-1][1] < held.window_ms  # and released at the end of the speech


@pytest.mark.models
def test_a_prompt_vad_scores_every_window_at_once() -> None:
    speech, _, _ = utterance("theo", "853")
    vad = SileroVad(SileroModel(), hold=SileroHold(windows=3, min_prob=0.0))
    vad.prompt = True
    assert all(s[1] < vad.window_ms for s in _pushed(vad, speech))
    vad.prompt = False
    assert max(s[1] for s in _pushed(vad, speech)) >= vad.window_ms


@pytest.mark.models
def test_peeking_scores_the_newest_audio_and_leaves_the_stream_as_it_was() -> None:
    """A peek between windows scores the newest 32 ms (the waiting samples included): high
    inside a digit, low in the silence after the utterance, and the windows scored after
    any number of peeks are exactly those of a stream never peeked at."""
    speech, start_ms, end_ms = utterance("theo", "853")
    samples = np.concatenate([speech, silence(16000, 0.5)])
    model = SileroModel()
    plain = _probs(SileroVad(model, gate=None), samples)
    peeked, vad = [], SileroVad(model, gate=None)
    peeks: list[tuple[float, float]] = []  # (ms of audio heard, probability)
    heard = 0
    for i in range(0, len(samples), 320):
        chunk = samples[i : i + 320]
        peeked += vad.push(chunk)
        heard += len(chunk)
        tail = vad.peek()
        assert (tail is None) == (vad.pending_ms == 0)
        if tail is not None:
            peeks.append((heard / 16, tail))
    np.testing.assert_allclose(peeked, plain, atol=1e-6)
    middle = (start_ms + end_ms) / 2
    in_speech = [p for at, p in peeks if abs(at - middle) < 100]
    after = [p for at, p in peeks if at > end_ms + 200]
    assert max(in_speech) > 0.5 and max(after) < 0.2


def test_a_vad_with_short_windows_does_not_peek() -> None:
    vad = EnergyVad()
    vad.push(np.zeros(100, dtype=np.int16))
    assert vad.pending_ms == pytest.approx(6.25) and vad.peek() is None


@pytest.mark.models
@pytest.mark.parametrize("gated", [True, False])
def test_silero_tells_how_long_the_line_has_been_quiet_since_the_voice(gated: bool) -> None:
    """``quiet_ms`` is the audio pushed (scored or waiting for its window) since the level
    last rose clearly above the line, to one 8 ms block: a tail fainter than -55 dBFS (-65
    here) is no voice. Voice in the samples waiting for a window counts at once."""
    vad = SileroVad(SileroModel(), gate=DEFAULT_SILERO_GATE if gated else None)
    loud = sine(440.0, 16000, 0.3003)
    faint = sine(440.0, 16000, 0.1, amplitude=18.0)
    samples = np.concatenate([silence(16000, 1.0), loud, faint, silence(16000, 0.25)])
    voice_end_ms = 1000.0 * (16000 + len(loud)) / 16000
    _probs(vad, samples)
    assert vad.pending_ms > 8.0  # the last 292 samples wait for their window
    heard_ms = 1000.0 * len(samples) / 16000
    assert 0.0 <= (heard_ms - voice_end_ms) - vad.quiet_ms < 8.0
    assert vad.push(sine(440.0, 16000, 0.005)) == []  # the onset of a word, not yet scored
    assert vad.quiet_ms == 0.0
    assert vad.push(silence(16000, 0.003)) == []
    assert 0.0 < vad.quiet_ms <= 3.0  # to one block


@pytest.mark.models
def test_a_line_louder_than_its_learned_floor_is_never_quiet() -> None:
    """Steady noise at about -41 dBFS from the first sample: the floor has not learned it
    yet, so every block counts as voice and nothing is dated back into it."""
    vad = SileroVad(SileroModel())
    for start in range(0, 16000, 320):
        vad.push(white_noise(16000, 1.0, 300.0)[start : start + 320])
        assert vad.quiet_ms < 8.0


def test_an_energy_vad_does_not_tell_where_the_voice_ended() -> None:
    vad = EnergyVad()
    vad.push(sine(440.0, 16000, 0.1))
    assert vad.quiet_ms is None
