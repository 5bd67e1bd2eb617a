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
The end of speech is the start of the window whose probability fell. When the VAD also
says where the voice last rose clearly above the line's noise (its level, finer than its
windows), the end-of-speech silence is counted from there instead: a network hears the end
of a word a window or two late. Never more than ``max_backdate_ms`` earlier, and never
later than the window: voice heard again during the pause moves the count on, up to there.
The resumption is dated by the level alike: voice the level hears in the pause, before the
silence has elapsed, holds the turn's end until the VAD has had ``max_backdate_ms`` and a
window of audio past it to say whether the caller speaks again (it hears an onset a window
or two late too). So a pause shorter than the end-of-speech silence never ends a turn for
being dated early at one end and late at the other; a noise the VAD does not call speech
costs at most that hold.
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
    max_backdate_ms: float = 64.0

    def __post_init__(self) -> None:
        if self.min_speech_ms < 0 or self.end_of_speech_ms < 0 or self.max_backdate_ms < 0:
            raise ConfigError(
                "turn: min_speech_ms, end_of_speech_ms and max_backdate_ms must be >= 0"
            )
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
        self._pause_ms = 0.0  # the start of the window that heard speech stop
        self._silence_from_ms = 0.0  # where the end-of-speech silence is counted from
        self._heard_ms = 0.0  # the latest voice end the level told during the pause
        self._hold_ms = 0.0  # voice heard in the pause: no end on silence before this
        self._window_ms = 0.0
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

    def update(
        self, prob: float, now_ms: float, window_ms: float, voice_end_ms: float | None = None
    ) -> list[TurnEvent]:
        """Feed one window's speech probability; returns the events it caused (often none).

        ``voice_end_ms``: where the voice last rose clearly above the line's noise, by the
        VAD's level (None: not known), possibly in audio not yet in a window. Speech that
        stops in this window is dated from there, and the end-of-speech silence counted
        from there, within ``max_backdate_ms`` before the window's start and never after
        it; in a pause, voice heard again holds the end (see the module's notes)."""
        s = self.settings
        window_start = now_ms - window_ms
        self._window_ms = window_ms
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
                    self._pause(window_start, voice_end_ms, events)
                    self._hear_level(voice_end_ms)
                    self._end_on_silence(now_ms, events)
            case _State.PAUSED:
                if prob >= s.threshold:
                    self._state = _State.SPEAKING
                    self._last_speech_ms = now_ms
                    events.append(SpeechResumed(window_start))
                else:
                    self._hear_level(voice_end_ms)
                    self._end_on_silence(now_ms, events)
        if self.in_speech and now_ms - self._start_ms >= s.max_turn_ms - _EPS:
            events.append(TurnEnded(self._start_ms, now_ms, "max_length"))
            self._state = _State.IDLE
        return events

    def end_due(self, now_ms: float, voice_end_ms: float | None = None) -> bool:
        """Whether a paused turn's end-of-speech silence has elapsed by ``now_ms``, the
        audio heard so far; ``voice_end_ms`` as for :meth:`update`, of that audio (voice
        the level hears in it holds the end)."""
        if self._state is not _State.PAUSED:
            return False
        self._hear_level(voice_end_ms)
        return self._silence_elapsed(now_ms)

    def update_between(
        self, prob: float, now_ms: float, voice_end_ms: float | None = None
    ) -> list[TurnEvent]:
        """The probability of the newest audio, up to ``now_ms``, between two window ends
        (scored ahead of its window, :meth:`Vad.peek`): a paused turn whose end-of-speech
        silence has elapsed by then ends there, unless that audio sounds like speech (the
        next window then decides whether the caller went on)."""
        events: list[TurnEvent] = []
        if self._state is _State.PAUSED and prob < self.settings.threshold:
            self._hear_level(voice_end_ms)
            self._end_on_silence(now_ms, events)
        return events

    def _confirm(self, now_ms: float, events: list[TurnEvent]) -> None:
        if now_ms - self._start_ms >= self.settings.min_speech_ms - _EPS:
            self._state = _State.SPEAKING
            self._last_speech_ms = now_ms
            events.append(SpeechStarted(self._start_ms))

    def _pause(
        self, window_start: float, voice_end_ms: float | None, events: list[TurnEvent]
    ) -> None:
        """Speech stopped in the window from ``window_start``: date it from the voice's end
        when the VAD told it, within ``max_backdate_ms`` before the window."""
        self._state = _State.PAUSED
        end = window_start
        if voice_end_ms is not None:
            end = max(window_start - self.settings.max_backdate_ms, min(end, voice_end_ms))
        self._pause_ms, self._silence_from_ms, self._speech_end_ms = window_start, end, end
        self._heard_ms, self._hold_ms = end, 0.0
        events.append(SpeechPaused(end))

    def _hear_level(self, voice_end_ms: float | None) -> None:
        """In a pause, voice (by level) heard again moves the silence's count on, up to
        the window that heard the speech stop (the count never starts later than that),
        and, heard before the silence elapsed, holds the end until the VAD has scored
        ``max_backdate_ms`` and a window past it: the resumption is dated by the level
        as early as the pause was, and the VAD given the time to confirm it."""
        if voice_end_ms is None or voice_end_ms <= self._heard_ms + _EPS:
            return
        self._heard_ms = voice_end_ms
        self._silence_from_ms = max(self._silence_from_ms, min(self._pause_ms, voice_end_ms))
        due = self._silence_from_ms + self.settings.end_of_speech_ms
        hold = min(voice_end_ms, due) + self.settings.max_backdate_ms + self._window_ms
        self._hold_ms = max(self._hold_ms, hold)

    def _silence_elapsed(self, now_ms: float) -> bool:
        elapsed = now_ms - self._silence_from_ms >= self.settings.end_of_speech_ms - _EPS
        return elapsed and now_ms >= self._hold_ms - _EPS

    def _end_on_silence(self, now_ms: float, events: list[TurnEvent]) -> None:
        if self._silence_elapsed(now_ms):
            events.append(TurnEnded(self._start_ms, self._speech_end_ms, "silence"))
            self._state = _State.IDLE
