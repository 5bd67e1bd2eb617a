"""Voice activity detection at 16 kHz: one speech probability per fixed window.

Two implementations of one small interface: :class:`EnergyVad` (level against an adaptive
noise floor; no model, for tests and constrained hosts) and :class:`SileroVad` (the Silero
ONNX model that ships inside faster-whisper, run through onnxruntime), which skips the
network on windows a :class:`SileroGate` finds quiet (most of a phone call).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass
from importlib import import_module
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from voxplane.errors import ModelUnavailableError
from voxplane.media.frame import Pcm16, to_float
from voxplane.media.level import FLOOR_DBFS, rms_dbfs
from voxplane.media.onnx import quiet_session_options

VAD_RATE = 16000
"""Every VAD takes mono int16 at this rate."""

SILERO_MODEL_FILE = "silero_vad_v6.onnx"
_INSTALL_HINT = "install the local extra: pip install 'voxplane[local]' (faster-whisper>=1.1)"


class Vad(ABC):
    """Buffers 16 kHz audio of any chunk length and scores each completed window.

    Subclasses set :attr:`window_samples` and implement :meth:`_score` (one window → speech
    probability in 0..1) and :meth:`_reset_state`.
    """

    window_samples: int
    prompt = False
    """True: score every window as soon as it completes. Otherwise a VAD may hold a few
    windows of confident speech back to score them together (:class:`SileroHold`), which
    is cheaper; set it while a prompt score matters (the agent speaks: barge-in)."""

    def __init__(self) -> None:
        self._pending: Pcm16 = np.zeros(0, dtype=np.int16)

    @property
    def window_ms(self) -> float:
        """Length of one window in milliseconds."""
        return 1000.0 * self.window_samples / VAD_RATE

    def push(self, samples: Pcm16) -> list[float]:
        """Add samples; returns one probability per window completed by them (maybe none)."""
        samples = np.asarray(samples, dtype=np.int16)
        if len(self._pending) + len(samples) < self.window_samples:  # most pushes: no window
            self._pending = np.concatenate([self._pending, samples])
            return []
        buffered = np.concatenate([self._pending, samples])
        count = len(buffered) // self.window_samples
        used = count * self.window_samples
        self._pending = buffered[used:].copy()
        return self._score_windows(buffered[:used].reshape(count, self.window_samples))

    @property
    def pending_ms(self) -> float:
        """Audio received after the last window scored (:meth:`push` returned its
        probability): windows held back, and the samples waiting to complete the next."""
        return 1000.0 * len(self._pending) / VAD_RATE

    def peek(self) -> float | None:
        """The speech probability of the newest window's worth of audio, the samples
        waiting for the next window included, without moving the model on: a decision
        due between two window ends (the end-of-speech silence elapsing) need not wait up
        to a window for its audio to be scored. None when nothing is waiting, or when this
        VAD does not peek (its windows are short enough)."""
        return None

    @property
    def quiet_ms(self) -> float | None:
        """How long the audio pushed so far (the samples waiting for the next window
        included) has been quiet at its end: the time since the last clearly voiced audio,
        judged by level in blocks shorter than a window. A turn detector dates the end of
        speech from there rather than from the window whose probability fell (a network
        hears the end of a word a window or two late), and a resumption from where it
        rises again, before the network has scored it. None
        when this VAD does not tell (one whose windows are short and score their own level
        needs no such help)."""
        return None

    def reset(self) -> None:
        """Drop buffered samples and any model state (e.g. between calls)."""
        self._pending = np.zeros(0, dtype=np.int16)
        self._reset_state()

    def _score_windows(self, windows: npt.NDArray[np.int16]) -> list[float]:
        """The probabilities of the windows scored now, in order: one per window unless
        windows are held back (they come with a later window's)."""
        return [self._score(window) for window in windows]

    @abstractmethod
    def _score(self, window: Pcm16) -> float: ...

    @abstractmethod
    def _reset_state(self) -> None: ...


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, x))))


class EnergyVad(Vad):
    """RMS level of 20 ms windows against an adaptive noise floor, mapped to 0..1.

    A window scores high when it is both ``snr_db`` above the noise floor and louder than
    ``min_speech_dbfs`` (so quiet hiss over digital silence is not speech). The floor falls
    fast to quieter windows and rises by at most ``rise_db_per_window``, so stationary noise
    is learned in seconds while the gaps between words keep it from following speech up.
    """

    window_samples = 320

    def __init__(
        self,
        *,
        snr_db: float = 12.0,
        min_speech_dbfs: float = -55.0,
        initial_floor_dbfs: float = -60.0,
        rise_db_per_window: float = 0.1,
    ) -> None:
        super().__init__()
        self.snr_db = snr_db
        self.min_speech_dbfs = min_speech_dbfs
        self.initial_floor_dbfs = initial_floor_dbfs
        self.rise_db_per_window = rise_db_per_window
        self.noise_floor_dbfs = initial_floor_dbfs

    def _score(self, window: Pcm16) -> float:
        level = rms_dbfs(window)
        above_floor = _sigmoid((level - self.noise_floor_dbfs - self.snr_db) / 3.0)
        loud_enough = _sigmoid((level - self.min_speech_dbfs) / 3.0)
        if level < self.noise_floor_dbfs:
            self.noise_floor_dbfs += 0.5 * (level - self.noise_floor_dbfs)
        else:
            self.noise_floor_dbfs += min(self.rise_db_per_window, level - self.noise_floor_dbfs)
        self.noise_floor_dbfs = max(self.noise_floor_dbfs, -90.0)
        return above_floor * loud_enough

    def _reset_state(self) -> None:
        self.noise_floor_dbfs = self.initial_floor_dbfs


def default_silero_model_path() -> Path:
    """Where the Silero VAD model shipped inside faster-whisper is; never downloads.

    Raises :class:`ModelUnavailableError` with an install hint when it is not installed.
    """
    spec = find_spec("faster_whisper")  # locates the package without importing it
    if spec is None or spec.origin is None:
        raise ModelUnavailableError(f"Silero VAD needs faster-whisper: {_INSTALL_HINT}")
    path = Path(spec.origin).parent / "assets" / SILERO_MODEL_FILE
    if not path.is_file():
        raise ModelUnavailableError(f"faster-whisper has no {SILERO_MODEL_FILE}: {_INSTALL_HINT}")
    return path


def _load_session(path: Path) -> Any:
    try:  # imported here: onnxruntime is an optional extra
        onnxruntime = import_module("onnxruntime")
    except ImportError as exc:
        raise ModelUnavailableError(f"Silero VAD needs onnxruntime: {_INSTALL_HINT}") from exc
    if not path.is_file():
        raise ModelUnavailableError(f"Silero VAD model {path} does not exist")
    try:
        return onnxruntime.InferenceSession(
            str(path),
            sess_options=quiet_session_options(onnxruntime),
            providers=["CPUExecutionProvider"],
        )
    except Exception as exc:  # onnxruntime raises bare RuntimeError subclasses
        raise ModelUnavailableError(f"cannot load Silero VAD model {path}: {exc}") from exc


class SileroModel:
    """The loaded Silero network: load it once per process and share it across calls.

    Loading takes tens of milliseconds, too long to do on the event loop for each call;
    running it keeps no state, so every call's :class:`SileroVad` can use the same one.
    """

    def __init__(self, model_path: Path | str | None = None) -> None:
        path = Path(model_path) if model_path is not None else default_silero_model_path()
        self.session = _load_session(path)


@dataclass(frozen=True, slots=True)
class SileroGate:
    """When a Silero window may skip the network: the model's last word was "not speech"
    (below ``max_prob``) and the window is quiet, at most ``margin_db`` above the line's
    noise floor or below ``silence_dbfs``. The skipped window scores what the model said
    last, and the network's state is kept for the next loud window.

    The noise floor is the running level of the quiet: it falls at once to a quieter window
    and rises by at most ``rise_db_per_window`` (about 1.5 dB a second), so it learns steady
    line noise in seconds but cannot follow speech up through the gaps between words. A
    skipped window is one the model would have scored low too: speech starts louder than
    the noise it interrupts, and the model's own decay after speech is never cut short.

    The network needs the quiet just before an onset to score the onset as it would have
    ungated, so the window that opens the gate is run together with the ``lookback``
    windows skipped just before it, in one run (the model takes a sequence of windows).
    """

    max_prob: float = 0.1
    margin_db: float = 6.0
    silence_dbfs: float = -60.0
    initial_floor_dbfs: float = -60.0
    rise_db_per_window: float = 0.05
    lookback: int = 8


DEFAULT_SILERO_GATE = SileroGate()


@dataclass(frozen=True, slots=True)
class SileroHold:
    """When Silero windows of speech may wait to run together: the model's last score was
    at least ``min_prob`` and the voice goes on to the window's end (its last 8-ms block
    clearly above the line's noise, as :attr:`SileroVad.quiet_ms` judges it). Up to
    ``windows`` such windows wait, then run in one sequence with the next window, or at
    once with the first that does not qualify (the voice falls: maybe the end of speech)
    or when :attr:`Vad.prompt` is set. One run of n windows gives the scores of n runs
    (the model takes a sequence) for less CPU: each run costs ~45 µs besides ~50 µs a
    window (``bench/README.md``, Telephony). Their scores come that much later.
    """

    windows: int = 3
    min_prob: float = 0.7


DEFAULT_SILERO_HOLD = SileroHold()


class SileroVad(Vad):
    """Silero VAD v6 (ONNX), streaming with batch size 1: 512-sample (32 ms) windows.

    Each window is fed with the last 64 samples of the previous one as context, and the LSTM
    state (h, c) is carried from window to window until :meth:`reset`. Pass a shared
    :class:`SileroModel`, or a model path (or nothing) to load one for this instance.
    Quiet windows skip the network as ``gate`` says (None: every window runs it), and
    windows of confident speech wait to run together as ``hold`` says (None: each runs
    when it completes); :attr:`windows_run` and :attr:`windows_skipped` count the windows
    run and skipped. The line's noise floor is tracked either way (as the gate, or its
    defaults, say), and with it where the voice last rose clearly above it (:attr:`quiet_ms`).
    """

    window_samples = 512
    context_samples = 64
    voice_block_samples = 128
    """Blocks (8 ms) in which :attr:`quiet_ms` tracks the level of the voice."""
    voice_margin_db = 10.0
    voice_min_dbfs = -55.0
    """A block is clearly voiced ``voice_margin_db`` above the noise floor and louder than
    ``voice_min_dbfs`` (a tail fainter than that is no voice on a phone line)."""

    def __init__(
        self,
        model: SileroModel | Path | str | None = None,
        *,
        gate: SileroGate | None = DEFAULT_SILERO_GATE,
        hold: SileroHold | None = DEFAULT_SILERO_HOLD,
    ) -> None:
        super().__init__()
        shared = model if isinstance(model, SileroModel) else SileroModel(model)
        self._session = shared.session
        self.gate = gate
        self.hold = hold
        self._floor_rise_db = (gate or DEFAULT_SILERO_GATE).rise_db_per_window
        self.windows_run = 0
        self.windows_skipped = 0
        self._reset_state()

    def _reset_state(self) -> None:
        self._h: npt.NDArray[np.float32] = np.zeros((1, 1, 128), dtype=np.float32)
        self._c: npt.NDArray[np.float32] = np.zeros((1, 1, 128), dtype=np.float32)
        self._context: npt.NDArray[np.float32] = np.zeros(self.context_samples, np.float32)
        self._last_row = np.zeros(self.context_samples + self.window_samples, np.float32)
        self._last_prob = 0.0
        self._skipped: deque[npt.NDArray[np.float32]] = deque(
            maxlen=self.gate.lookback if self.gate else 0
        )
        self._held: list[npt.NDArray[np.float32]] = []
        self._floor_dbfs = (self.gate or DEFAULT_SILERO_GATE).initial_floor_dbfs
        self._quiet_samples = 0

    @property
    def pending_ms(self) -> float:
        held = len(self._held) * self.window_samples
        return 1000.0 * (held + len(self._pending)) / VAD_RATE

    @property
    def quiet_ms(self) -> float:
        quiet, pending = self._quiet_samples, self._pending
        if len(pending):  # its level, by the floor so far: voice before the network hears it
            block, size = self.voice_block_samples, len(pending)
            floats = to_float(pending)
            starts = np.arange(0, size, block)
            means = np.add.reduceat(floats * floats, starts) / np.minimum(block, size - starts)
            voiced = np.flatnonzero(means > self._voice_line())
            if len(voiced):
                return 1000.0 * (size - min(size, int(starts[voiced[-1]]) + block)) / VAD_RATE
            quiet += size
        return 1000.0 * quiet / VAD_RATE

    def peek(self) -> float | None:
        rows = list(self._held)  # scored first, from the state before them, and not kept
        if len(self._pending):
            recent = np.concatenate([self._last_row, to_float(self._pending)])
            rows.append(recent[-(self.context_samples + self.window_samples) :])
        if not rows:
            return None
        probs, _h, _c = self._session.run(
            None, {"input": np.stack(rows), "h": self._h, "c": self._c}
        )
        return float(np.asarray(probs).reshape(-1)[-1])

    def _score(self, window: Pcm16) -> float:
        prompt, self.prompt = self.prompt, True  # this window's score, now
        try:
            return self._score_windows(window.reshape(1, -1))[-1]
        finally:
            self.prompt = prompt

    def _score_windows(self, windows: npt.NDArray[np.int16]) -> list[float]:
        scores: list[float] = []
        for audio in windows.astype(np.float32) * np.float32(1.0 / 32768.0):
            row = np.concatenate([self._context, audio])
            self._last_row = row
            self._context = audio[-self.context_samples :]
            floor, level = self._floor_dbfs, self._track_level(audio)
            if self.gate is not None and not self._held and self._skips(level, floor, self.gate):
                self._skipped.append(row)
                self.windows_skipped += 1
                scores.append(self._last_prob)
                continue
            self._held.append(row)
            if not self._holds():
                scores += self._run()
        return scores

    def _holds(self) -> bool:
        """Whether the windows held (the newest just added) may wait for the next."""
        hold = self.hold
        return (
            hold is not None
            and not self.prompt
            and len(self._held) <= hold.windows
            and self._quiet_samples == 0
            and self._last_prob >= hold.min_prob
        )

    def _run(self) -> list[float]:
        """Run the network on the windows skipped just before (their state) and held."""
        rows = [*self._skipped, *self._held]
        batch = np.stack(rows) if len(rows) > 1 else rows[0][None, :]
        probs, self._h, self._c = self._session.run(
            None, {"input": batch, "h": self._h, "c": self._c}
        )
        scores: list[float] = np.asarray(probs).reshape(-1)[-len(self._held) :].tolist()
        self.windows_run += len(self._held)
        self._skipped.clear()
        self._held.clear()
        self._last_prob = scores[-1]
        return scores

    def _track_level(self, audio: npt.NDArray[np.float32]) -> float:
        """The window's level in dBFS; moves the noise floor, and :attr:`quiet_ms`."""
        block = self.voice_block_samples
        squares = audio * audio
        energies: list[float] = squares.reshape(-1, block).sum(axis=1).tolist()
        mean_square = sum(energies) / len(audio)
        level = 10.0 * math.log10(mean_square) if mean_square > 1e-10 else FLOOR_DBFS
        floor, rise = self._floor_dbfs, self._floor_rise_db
        self._floor_dbfs = level if level < floor else floor + min(rise, level - floor)
        line = block * self._voice_line()
        for index in range(len(energies) - 1, -1, -1):
            if energies[index] > line:
                self._quiet_samples = block * (len(energies) - 1 - index)
                return level
        self._quiet_samples += len(audio)
        return level

    def _voice_line(self) -> float:
        """The mean square above which audio is clearly voiced on this line."""
        line_db = max(self._floor_dbfs + self.voice_margin_db, self.voice_min_dbfs)
        return float(10.0 ** (line_db / 10.0))

    def _skips(self, level: float, floor: float, gate: SileroGate) -> bool:
        """Whether the network may skip a window at ``level`` (``floor`` before it)."""
        if self._last_prob >= gate.max_prob:
            return False
        return level < gate.silence_dbfs or level <= floor + gate.margin_db
