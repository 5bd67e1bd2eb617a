"""Listening: the caller's audio becomes committed turns, and speech over the agent
pauses or cuts it.

::

    source ─► resample 16 kHz ─► STT stream (every frame)
                              └► VAD ─► turn detector ─┬─ SpeechPaused ─► stream.speech_paused
                                                       ├─ SpeechResumed ─► stream.speech_resumed
                                                       └─ TurnEnded ─► stream.flush ─► turn queue
    speech over the agent for barge_in.min_speech_ms ─► soften the reply (soft) or cut it (hard)
    an interim result over a softened reply with real words ─► cut it
"""

from __future__ import annotations

import asyncio
import logging

from voxplane.agents.schema import TurnConfig
from voxplane.errors import VoxplaneError
from voxplane.media.frame import Pcm16
from voxplane.media.resample import Quality, Resampler
from voxplane.media.turn import (
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    TurnDetector,
    TurnEnded,
    TurnEvent,
    TurnSettings,
)
from voxplane.media.vad import Vad
from voxplane.observability import metrics
from voxplane.pipeline.records import TurnMetrics
from voxplane.pipeline.replies import Replies
from voxplane.pipeline.state import CallState, UserTurn
from voxplane.pipeline.text import is_backchannel
from voxplane.providers.base import SttStream
from voxplane.transports.base import AudioSource

log = logging.getLogger(__name__)


class Listener:
    """Hears the caller: turn detection, transcripts of committed turns, barge-in."""

    def __init__(
        self,
        state: CallState,
        stream: SttStream,
        vad: Vad,
        turn: TurnConfig,
        replies: Replies,
    ) -> None:
        self._state = state
        self._stream = stream
        self._vad = vad
        self._turn = turn
        self._replies = replies
        self._detector = TurnDetector(
            TurnSettings(
                min_speech_ms=turn.min_speech_ms,
                end_of_speech_ms=turn.end_of_speech_ms,
                max_turn_ms=turn.max_turn_ms,
                threshold=turn.vad_threshold,
                release_threshold=max(0.05, turn.vad_threshold - 0.15),
                max_backdate_ms=2 * vad.window_ms,
            )
        )
        self._speech_start_ms = 0.0  # where the current speech's transcription starts
        self._held_start_ms: float | None = None  # a held turn's start: its words join it
        self._barged_in = False
        self._softened = False
        self._overlapped = False
        self._continues = False
        self._vad_ms = 0.0
        self._in_ms = 0.0

    @property
    def in_speech(self) -> bool:
        return self._detector.in_speech

    @property
    def in_turn(self) -> bool:
        return self._detector.in_turn

    # --- the caller's audio ---------------------------------------------------------------

    async def run(self, source: AudioSource) -> None:
        resampler = Resampler(source.sample_rate, 16_000, _inbound_quality(source.sample_rate))
        loop = asyncio.get_running_loop()
        async for frame in source.frames():
            self._in_ms += frame.duration_ms
            await self._hear(resampler.process(frame.samples), loop.time())
        self._state.end("caller_hangup")

    async def _hear(self, samples: Pcm16, now: float) -> None:
        state = self._state
        window_ms = 1000.0 * self._vad.window_samples / 16_000
        self._stream.push(samples)
        # Offsets come from input time, so resampler delay counts as latency, as it should.
        state.offset = now - self._in_ms / 1000
        state.result.caller_audio_ms += len(samples) / 16
        # Over the agent, every window is scored at once: barge-in must not wait on a batch.
        self._vad.prompt = self._replies.speaking
        probs = self._vad.push(samples)
        heard_to = self._vad_ms + len(probs) * window_ms + self._vad.pending_ms
        # Where the voice last rose clearly above the line's noise (the VAD's level, finer
        # than its windows, to the newest sample): a pause is dated from there, not from
        # the window that heard it, and so is voice heard again before the network says so.
        # Asked only when a window may pause the turn or a pause is going on.
        detector = self._detector
        listening = detector.in_turn and (bool(probs) or not detector.in_speech)
        quiet_ms = self._vad.quiet_ms if listening else None
        voice_end = None if quiet_ms is None else heard_to - quiet_ms
        for prob in probs:
            self._vad_ms += window_ms
            for event in self._detector.update(prob, self._vad_ms, window_ms, voice_end):
                self._on_turn_event(event, now)
            await self._check_barge_in()
        # The end-of-speech silence rarely elapses on a window's end (Silero's are 32 ms,
        # frames 20 ms): score the newest audio ahead of its window rather than wait up to
        # a window past the silence the agent was configured with.
        if self._detector.end_due(heard_to, voice_end):
            tail = self._vad.peek()
            if tail is not None:
                for event in self._detector.update_between(tail, heard_to, voice_end):
                    self._on_turn_event(event, now)

    def _on_turn_event(self, event: TurnEvent, now: float) -> None:
        match event:
            case SpeechStarted(start_ms=start_ms):
                held = self._held_start_ms
                self._speech_start_ms = start_ms if held is None else held
                self._barged_in = self._softened = False
                self._continues = self._is_continuation()
                self._overlapped = self._replies.speaking
            case SpeechPaused(speech_end_ms=end_ms):
                self._stream.speech_paused(self._speech_start_ms, end_ms)
            case SpeechResumed():
                self._stream.speech_resumed()
            case TurnEnded(start_ms=start_ms, end_ms=end_ms):
                self._commit(start_ms, end_ms, now)

    def _commit(self, start_ms: float, end_ms: float, now: float) -> None:
        state = self._state
        metrics = TurnMetrics(turn=0, speech_end=state.wall(end_ms), endpoint=now)
        heard_from = self._speech_start_ms
        transcript = self.transcribe(heard_from, end_ms, metrics)
        turn = UserTurn(
            start_ms=start_ms,
            end_ms=end_ms,
            transcript=transcript,
            heard_from_ms=heard_from,
            metrics=metrics,
            overlapped=self._overlapped or self._replies.speaking,
            barged_in=self._barged_in,
            continues=self._continues,
            softened=self._softened,
        )
        try:
            state.turns.put_nowait(turn)
            state.busy += 1
        except asyncio.QueueFull:
            log.warning("caller turn dropped: responder is behind")
            transcript.cancel()

    def transcribe(
        self, start_ms: float, end_ms: float, metrics: TurnMetrics | None = None
    ) -> asyncio.Task[tuple[str, float]]:
        """The words between two caller-audio times, and the loop time they were final;
        ``metrics`` (a committed turn's) learns whether a speculative guess was used."""
        return self._state.spawn(self._final(start_ms, end_ms, metrics))

    async def _final(
        self, start_ms: float, end_ms: float, turn_metrics: TurnMetrics | None
    ) -> tuple[str, float]:
        try:
            result = await self._stream.flush(start_ms, end_ms)
        except VoxplaneError as error:
            # Counted in the call's record; the turn goes unanswered, and the silence
            # watchdog asks the caller again.
            log.warning("speech to text failed", extra={"error": str(error)})
            metrics.PROVIDER_ERRORS.labels("stt").inc()
            self._state.provider_failed("stt")
            return "", asyncio.get_running_loop().time()
        if turn_metrics is not None:
            turn_metrics.speculative_hit = result.speculative
        ready = result.ready_at
        return result.text, asyncio.get_running_loop().time() if ready is None else ready

    # --- held turns -------------------------------------------------------------------------

    def hold_from(self, start_ms: float) -> None:
        """Transcribe what the caller says next together with the held turn from
        ``start_ms``: one utterance in context is heard better than its pieces."""
        self._held_start_ms = start_ms
        if self._detector.in_turn:  # they already went on
            self._speech_start_ms = start_ms

    def release_hold(self) -> None:
        self._held_start_ms = None

    # --- the caller over the agent ---------------------------------------------------------

    def _is_continuation(self) -> bool:
        """Caller speech starting now continues their last turn: its answer is still to
        come, or has played less than ``continuation_ms``."""
        if self._turn.continuation_ms == 0:
            return False
        if self._state.busy:
            return True
        reply = self._replies.active
        return (
            reply is not None
            and reply.answering is not None
            and reply.answering is self._state.answered
            and reply.speaker.sent_ms <= self._turn.continuation_ms
        )

    async def _check_barge_in(self) -> None:
        settings = self._turn.barge_in
        if (
            self._replies.speaking
            and settings.enabled
            and not self._barged_in
            and not self._softened
            and not self._state.closing
            and self._detector.in_speech
            and self._detector.speech_ms >= settings.min_speech_ms
        ):
            if settings.mode == "hard":
                await self._cut()
            else:
                self._softened = self._replies.soften()
                self._state.result.soft_barge_ins += 1

    async def _cut(self) -> None:
        self._barged_in = True
        await self._replies.stop()

    def restore_agent(self) -> None:
        """A softened reply goes on, unless the caller is talking over it again."""
        if not (self._softened and self._detector.in_turn):
            self._replies.restore()

    async def watch_results(self) -> None:
        """Interim words over a softened reply that are no backchannel cut it at once,
        before the turn ends (a batch recognizer's interims are its guesses at pauses)."""
        async for result in self._stream.results():
            if (
                not result.final
                and self._softened
                and not self._barged_in
                and self._detector.in_turn
                and result.end_ms > self._speech_start_ms  # about the speech going on
                and result.text.strip()
                and not is_backchannel(result.text, self._turn.backchannels)
                and self._replies.softened
            ):
                await self._cut()


def _inbound_quality(rate: int) -> Quality:
    """Upsampling (8 kHz phone audio) cannot alias, so take the filter with no hold-back."""
    return "QQ" if rate <= 16_000 else "LQ"
