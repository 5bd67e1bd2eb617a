"""A pure turn detector: VAD probabilities and window times in, turn events out.

::

    IDLE ──p≥threshold──► PENDING ──lasted min_speech_ms──► SPEAKING   (SpeechStarted)
      ▲                     │ p<release                      │   ▲
      └─────────────────────┘                        p<release│   │p≥threshold (SpeechResumed)
      ▲                                                       ▼   │
      └──── silence ≥ end_of_speech_ms (TurnEnded) ──────── PAUSED     (SpeechPaused)

A turn still SPEAKING once it has lasted ``max_turn_ms`` is cut (reason ``max_length``); a
PAUSED turn is left to its end-of-speech silence.
Hysteresis: a probability between ``release_threshold`` and ``threshold`` keeps the state.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

from voxplane.errors import ConfigError

_EPS = 1e-6  # window times are sums of floats; treat 99.9999999 ms as 100 ms


@dataclass(frozen=True, slots=True)
class TurnSettings:
    """Timing and thresholds of the turn detector (times in milliseconds)."""

    min_speech_ms: float = 250.0
    end_of_speech_ms: float = 600.0
    max_turn_ms: float = 60_000.0
    threshold: float = 0.5
    release_threshold: float = 0.35

    def __post_init__(self) -> None:
        if self.min_speech_ms < 0 or self.end_of_speech_ms < 0:
            raise ConfigError("turn: min_speech_ms and end_of_speech_ms must be >= 0")
        if self.max_turn_ms <= self.min_speech_ms:
            raise ConfigError("turn: max_turn_ms must be greater than min_speech_ms")
        if not 0.0 <= self.release_threshold <= self.threshold <= 1.0:
            raise ConfigError("turn: need 0 <= release_threshold <= threshold <= 1")


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """Speech has lasted ``min_speech_ms``; it began at ``start_ms``."""

    start_ms: float


@dataclass(frozen=True, slots=True)
class SpeechPaused:
    """Confirmed speech stopped at ``speech_end_ms``: the point to start speculating."""

    speech_end_ms: float


@dataclass(frozen=True, slots=True)
class SpeechResumed:
    """Speech came back at ``at_ms`` before the end-of-speech silence elapsed."""

    at_ms: float


@dataclass(frozen=True, slots=True)
class TurnEnded:
    """The caller's turn is over: silence after ``end_ms``, or cut at ``max_turn_ms``."""

    start_ms: float
    end_ms: float
    reason: Literal["silence", "max_length"]


TurnEvent = SpeechStarted | SpeechPaused | SpeechResumed | TurnEnded


class _State(enum.Enum):
    IDLE = enum.auto()
    PENDING = enum.auto()
    SPEAKING = enum.auto()
    PAUSED = enum.auto()


class TurnDetector:
    """Turns a stream of per-window speech probabilities into turn events.

    Call :meth:`update` once per VAD window with the window's *end* time; all times are
    passed in (milliseconds on any monotonic clock), none are read.
    """

    def __init__(self, settings: TurnSettings) -> None:
        self.settings = settings
        self._state = _State.IDLE
        self._start_ms = 0.0
        self._speech_end_ms = 0.0
        self._last_speech_ms = 0.0

    @property
    def in_speech(self) -> bool:
        """True while confirmed speech is going on (not while paused or unconfirmed)."""
        return self._state is _State.SPEAKING

    @property
    def in_turn(self) -> bool:
        """True between SpeechStarted and TurnEnded (speaking or paused)."""
        return self._state in (_State.SPEAKING, _State.PAUSED)

    @property
    def speech_ms(self) -> float:
        """Confirmed speech of the current turn so far: its start to the last speech window."""
        return self._last_speech_ms - self._start_ms if self.in_turn else 0.0

    def reset(self) -> None:
        """Forget any speech in progress; no event is emitted."""
        self._state = _State.IDLE

    def update(self, prob: float, now_ms: float, window_ms: float) -> list[TurnEvent]:
        """Feed one window's speech probability; returns the events it caused (often none)."""
        s = self.settings
        window_start = now_ms - window_ms
        events: list[TurnEvent] = []
        match self._state:
            case _State.IDLE:
                if prob >= s.threshold:
                    self._state = _State.PENDING
                    self._start_ms = window_start
                    self._confirm(now_ms, events)
            case _State.PENDING:
                if prob >= s.release_threshold:
                    self._confirm(now_ms, events)
                else:
                    self._state = _State.IDLE  # a blip: never announced
            case _State.SPEAKING:
                if prob >= s.release_threshold:
                    self._last_speech_ms = now_ms
                else:
                    self._state = _State.PAUSED
                    self._speech_end_ms = window_start
                    events.append(SpeechPaused(window_start))
                    self._end_on_silence(now_ms, events)
            case _State.PAUSED:
                if prob >= s.threshold:
                    self._state = _State.SPEAKING
                    self._last_speech_ms = now_ms
                    events.append(SpeechResumed(window_start))
                else:
                    self._end_on_silence(now_ms, events)
        if self.in_speech and now_ms - self._start_ms >= s.max_turn_ms - _EPS:
            events.append(TurnEnded(self._start_ms, now_ms, "max_length"))
            self._state = _State.IDLE
        return events

    def end_due(self, now_ms: float) -> bool:
        """Whether a paused turn's end-of-speech silence has elapsed by ``now_ms``."""
        elapsed = now_ms - self._speech_end_ms >= self.settings.end_of_speech_ms - _EPS
        return self._state is _State.PAUSED and elapsed

    def update_between(self, prob: float, now_ms: float) -> list[TurnEvent]:
        """The probability of the newest audio, up to ``now_ms``, between two window ends
        (scored ahead of its window, :meth:`Vad.peek`): a paused turn whose end-of-speech
        silence has elapsed by then ends there, unless that audio sounds like speech (the
        next window then decides whether the caller went on)."""
        events: list[TurnEvent] = []
        if self._state is _State.PAUSED and prob < self.settings.threshold:
            self._end_on_silence(now_ms, events)
        return events

    def _confirm(self, now_ms: float, events: list[TurnEvent]) -> None:
        if now_ms - self._start_ms >= self.settings.min_speech_ms - _EPS:
            self._state = _State.SPEAKING
            self._last_speech_ms = now_ms
            events.append(SpeechStarted(self._start_ms))

    def _end_on_silence(self, now_ms: float, events: list[TurnEvent]) -> None:
        if now_ms - self._speech_end_ms >= self.settings.end_of_speech_ms - _EPS:
            events.append(TurnEnded(self._start_ms, self._speech_end_ms, "silence"))
            self._state = _State.IDLE
