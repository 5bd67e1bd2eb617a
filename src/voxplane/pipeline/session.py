"""One call: listen, take turns, answer, and keep time.

::

    source ─► resample 16 kHz ─► VAD ─► turn detector ─┬─► speculative STT (silence began)
                                                      └─► commit on end-of-speech silence
    responder: transcript ─► backchannel? ─► brain ─► Speaker (TTS ─► pacer ─► sink)
    watchdog:  silence reprompts, maximum call length

Every task belongs to the call's TaskGroup; ending the call cancels and awaits all of them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from voxplane.agents.schema import CallConfig, TurnConfig
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
from voxplane.pipeline.history import AudioHistory
from voxplane.pipeline.records import CallResult, EndReason, TurnMetrics, TurnRecord
from voxplane.pipeline.speaker import Speaker
from voxplane.pipeline.text import is_backchannel
from voxplane.providers.base import (
    STT,
    TTS,
    Brain,
    BrainEvent,
    HangUp,
    SttHint,
    TextChunk,
    Transfer,
)
from voxplane.transports.base import Transport

log = logging.getLogger(__name__)

PREROLL_MS = 300
"""Caller audio kept before the detected start of speech: Whisper misses words without it."""
TAIL_MS = 150
"""Audio kept after the detected end of speech (the VAD releases a little early)."""
TURN_QUEUE_SIZE = 4
"""Committed caller turns waiting for the responder; more means the brain fell far behind."""
WATCHDOG_PERIOD_S = 0.1


@dataclass(slots=True)
class CallParts:
    """The providers one call uses; the VAD is per call (it keeps state)."""

    stt: STT
    brain: Brain
    tts: TTS
    vad: Vad
    use_stt_hints: bool = True


@dataclass(slots=True)
class _UserTurn:
    start_ms: float
    end_ms: float
    transcript: asyncio.Task[tuple[str, float]]
    metrics: TurnMetrics
    overlapped: bool
    """The agent was speaking when this turn ended."""
    barged_in: bool
    continues: bool
    """The caller only paused: this continues the turn answered last."""


@dataclass(slots=True)
class _Answered:
    """The last caller turn the brain answered, kept so a continuation can replace it."""

    text: str
    checkpoint: object | None
    record: TurnRecord
    metrics: TurnMetrics


@dataclass(slots=True)
class _ActiveReply:
    speaker: Speaker
    task: asyncio.Task[None]
    answering: _Answered | None
    """The caller turn this answers; None for the pipeline's own words (reprompts,
    goodbyes) and the greeting."""
    from_brain: bool
    """False for the pipeline's own words: the brain never said them."""


class CallSession:
    """Runs one call over a transport until someone hangs up; returns the call's record."""

    def __init__(
        self,
        parts: CallParts,
        transport: Transport,
        turn: TurnConfig,
        call: CallConfig,
        on_turn: Callable[[TurnRecord], None] | None = None,
    ) -> None:
        """``on_turn`` sees each transcript entry as it is recorded (live progress).

        A turn later merged with its continuation is reported again, whole."""
        self._parts = parts
        self._on_turn = on_turn
        self._transport = transport
        self._turn = turn
        self._call = call
        self._detector = TurnDetector(
            TurnSettings(
                min_speech_ms=turn.min_speech_ms,
                end_of_speech_ms=turn.end_of_speech_ms,
                max_turn_ms=turn.max_turn_ms,
                threshold=turn.vad_threshold,
                release_threshold=max(0.05, turn.vad_threshold - 0.15),
            )
        )
        self._history = AudioHistory(turn.max_turn_ms + PREROLL_MS + 5000)
        self._result = CallResult(ended_by="caller_hangup")
        self._turns: asyncio.Queue[_UserTurn] = asyncio.Queue(TURN_QUEUE_SIZE)
        self._reply: _ActiveReply | None = None
        self._speculation: tuple[float, asyncio.Task[tuple[str, float]]] | None = None
        self._guess_at: float | None = None  # a pause's guess waiting for an idle recognizer
        self._group: asyncio.TaskGroup | None = None
        self._done = asyncio.Event()
        self._t0 = 0.0
        self._offset = 0.0  # loop time minus caller-audio time, in seconds
        self._speech_start_ms = 0.0
        self._barged_in = False
        self._overlapped = False
        self._continues = False
        self._answered: _Answered | None = None
        self._vad_ms = 0.0
        self._in_ms = 0.0
        self._busy = 0  # caller turns queued or being answered
        self._last_activity = 0.0
        self._reprompts = 0
        self._turn_count = 0
        self._closing = False  # the call's last words are playing: nothing may cut them

    # --- lifecycle --------------------------------------------------------------------------

    async def run(self) -> CallResult:
        loop = asyncio.get_running_loop()
        self._t0 = self._last_activity = loop.time()
        self._offset = self._t0
        async with asyncio.TaskGroup() as group:
            self._group = group
            tasks = [
                group.create_task(self._listen()),
                group.create_task(self._respond()),
                group.create_task(self._watchdog()),
            ]
            self._start_reply(self._parts.brain.greet(), None)
            await self._done.wait()
            await self._stop_reply()
            for task in tasks:
                task.cancel()
            # Transcriptions nobody will read: the group would otherwise wait them out.
            self._cancel_speculation()
            while not self._turns.empty():
                self._turns.get_nowait().transcript.cancel()
        self._result.turns.sort(key=lambda t: (t.start_ms, t.role == "agent"))
        return self._result

    def _end(self, reason: EndReason, transfer_target: str | None = None) -> None:
        if not self._done.is_set():
            self._result.ended_by = reason
            self._result.transfer_target = transfer_target
            self._done.set()

    def _call_ms(self, loop_time: float) -> int:
        return round(1000 * (loop_time - self._t0))

    def _wall(self, audio_ms: float) -> float:
        return audio_ms / 1000 + self._offset

    # --- listening --------------------------------------------------------------------------

    async def _listen(self) -> None:
        source = self._transport.source
        resampler = Resampler(source.sample_rate, 16_000, _inbound_quality(source.sample_rate))
        loop = asyncio.get_running_loop()
        async for frame in source.frames():
            self._in_ms += frame.duration_ms
            await self._hear(resampler.process(frame.samples), loop.time())
        self._end("caller_hangup")

    async def _hear(self, samples: Pcm16, now: float) -> None:
        vad = self._parts.vad
        window_ms = 1000.0 * vad.window_samples / 16_000
        self._history.append(samples)
        # Offsets come from input time, so resampler delay counts as latency, as it should.
        self._offset = now - self._in_ms / 1000
        self._result.caller_audio_ms += len(samples) / 16
        for prob in vad.push(samples):
            self._vad_ms += window_ms
            for event in self._detector.update(prob, self._vad_ms, window_ms):
                await self._on_turn_event(event, now)
            self._speculate()
            await self._check_barge_in()

    async def _on_turn_event(self, event: TurnEvent, now: float) -> None:
        match event:
            case SpeechStarted(start_ms=start_ms):
                self._speech_start_ms = start_ms
                self._barged_in = False
                self._continues = self._is_continuation()
                self._overlapped = self._reply is not None
            case SpeechPaused(speech_end_ms=end_ms):
                self._cancel_speculation()
                if self._turn.speculative_stt:
                    self._guess_at = end_ms
                    self._speculate()
            case SpeechResumed():
                self._cancel_speculation()
            case TurnEnded(start_ms=start_ms, end_ms=end_ms):
                self._commit(start_ms, end_ms, now)

    def _commit(self, start_ms: float, end_ms: float, now: float) -> None:
        metrics = TurnMetrics(turn=0, speech_end=self._wall(end_ms), endpoint=now)
        if self._speculation is not None and self._speculation[0] == end_ms:
            transcript = self._speculation[1]
            metrics.speculative_hit = True
            self._speculation = None
        else:
            self._cancel_speculation()
            transcript = self._transcribe(start_ms, end_ms)
        turn = _UserTurn(
            start_ms=start_ms,
            end_ms=end_ms,
            transcript=transcript,
            metrics=metrics,
            overlapped=self._overlapped or self._reply is not None,
            barged_in=self._barged_in,
            continues=self._continues,
        )
        try:
            self._turns.put_nowait(turn)
            self._busy += 1
        except asyncio.QueueFull:
            log.warning("caller turn dropped: responder is behind")
            transcript.cancel()

    def _speculate(self) -> None:
        """Start the guess the caller's pause asked for, once the recognizer is idle.

        A guess that would queue is held back instead: most pauses are not the end of the
        turn, and a local model cannot drop work it has started. So the guess starts at the
        pause, or as soon as a worker frees up while the caller is still quiet.
        """
        if self._guess_at is not None and self._parts.stt.can_start_now():
            self._speculation = (
                self._guess_at,
                self._transcribe(self._speech_start_ms, self._guess_at),
            )
            self._guess_at = None

    def _cancel_speculation(self) -> None:
        self._guess_at = None
        if self._speculation is not None:
            self._speculation[1].cancel()
            self._speculation = None

    def _transcribe(self, start_ms: float, end_ms: float) -> asyncio.Task[tuple[str, float]]:
        audio = self._history.slice(start_ms - PREROLL_MS, end_ms + TAIL_MS)
        hint = self._parts.brain.stt_hint() if self._parts.use_stt_hints else None
        assert self._group is not None
        return self._group.create_task(self._recognize(audio, hint))

    async def _recognize(self, audio: Pcm16, hint: SttHint | None) -> tuple[str, float]:
        try:
            transcript = await self._parts.stt.recognize(audio, hint)
        except VoxplaneError as error:
            log.warning("speech to text failed", extra={"error": str(error)})
            return "", asyncio.get_running_loop().time()
        self._result.stt_audio_ms += transcript.audio_ms
        return transcript.text, asyncio.get_running_loop().time()

    def _is_continuation(self) -> bool:
        """Caller speech starting now continues their last turn: its answer is still to
        come, or has played less than ``continuation_ms``."""
        if self._turn.continuation_ms == 0:
            return False
        if self._busy:
            return True
        reply = self._reply
        return (
            reply is not None
            and reply.answering is not None
            and reply.answering is self._answered
            and reply.speaker.sent_ms <= self._turn.continuation_ms
        )

    async def _check_barge_in(self) -> None:
        settings = self._turn.barge_in
        if (
            self._reply is not None
            and settings.enabled
            and not self._barged_in
            and not self._closing
            and self._detector.in_speech
            and self._detector.speech_ms >= settings.min_speech_ms
        ):
            self._barged_in = True
            await self._stop_reply()

    # --- answering --------------------------------------------------------------------------

    async def _respond(self) -> None:
        while True:
            turn = await self._turns.get()
            try:
                await self._answer(turn)
            finally:
                self._busy -= 1

    async def _answer(self, turn: _UserTurn) -> None:
        text, stt_done = await turn.transcript
        turn.metrics.stt_final = stt_done
        text = text.strip()
        if not text or self._closing or self._done.is_set():
            return
        speaking = self._reply is not None and turn.overlapped and not turn.barged_in
        if speaking and is_backchannel(text, self._turn.backchannels):
            return
        await self._stop_reply()
        start_ms = self._call_ms(self._wall(turn.start_ms))
        previous = self._answered if turn.continues else None
        if previous is not None and previous.checkpoint is not None:
            # The caller had only paused: take the answered part back, answer the whole.
            self._parts.brain.rollback(previous.checkpoint)
            self._result.turns.remove(previous.record)
            self._result.metrics.remove(previous.metrics)
            text = f"{previous.text} {text}"
            start_ms = previous.record.start_ms
        else:
            self._turn_count += 1
        self._reprompts = 0
        turn.metrics.turn = self._turn_count
        record = TurnRecord("user", text, start_ms, self._call_ms(self._wall(turn.end_ms)))
        self._result.metrics.append(turn.metrics)
        self._add_turn(record)
        checkpoint = self._parts.brain.checkpoint()
        self._answered = _Answered(text, checkpoint, record, turn.metrics)
        self._start_reply(self._parts.brain.respond(text), turn.metrics, self._answered)

    def _start_reply(
        self,
        events: AsyncIterator[BrainEvent],
        metrics: TurnMetrics | None,
        answering: _Answered | None = None,
        *,
        from_brain: bool = True,
    ) -> None:
        assert self._group is not None
        if self._done.is_set():
            return  # the call is over: nothing more is said
        speaker = Speaker(self._parts.tts, self._transport.sink, metrics)
        task = self._group.create_task(self._run_reply(speaker, events))
        self._reply = _ActiveReply(speaker, task, answering, from_brain)

    async def _run_reply(self, speaker: Speaker, events: AsyncIterator[BrainEvent]) -> None:
        try:
            await speaker.speak(events)
        except* VoxplaneError as errors:  # the speaker's TaskGroup wraps provider errors
            reasons = "; ".join(str(error) for error in errors.exceptions)
            log.warning("agent answer failed", extra={"error": reasons})
        if self._reply is not None and self._reply.speaker is speaker:
            self._reply = None
        self._record_speech(speaker, interrupted=False, buffered_ms=0.0)
        match speaker.action:
            case HangUp(reason=reason):
                self._end(_END_REASONS.get(reason, "agent_hangup"))
                await self._transport.hang_up()
            case Transfer(target=target):
                self._end("transfer", target)
                await self._transport.transfer(target)

    async def _stop_reply(self) -> None:
        """Interrupt the agent: stop synthesis and playout, keep only what was heard."""
        active, self._reply = self._reply, None
        if active is None:
            return
        active.task.cancel()
        await asyncio.wait([active.task])
        sink = self._transport.sink
        buffered = sink.buffered_ms()
        await sink.clear()
        heard = self._record_speech(active.speaker, interrupted=True, buffered_ms=buffered)
        if active.from_brain:
            self._parts.brain.on_interrupted(heard)

    def _record_speech(self, speaker: Speaker, *, interrupted: bool, buffered_ms: float) -> str:
        heard = speaker.heard(buffered_ms)
        self._result.tts_characters += speaker.characters
        self._last_activity = asyncio.get_running_loop().time()
        first, last = speaker.times.first_frame, speaker.times.last_frame
        if first is not None and last is not None and heard:
            end = last + 0.02 - buffered_ms / 1000
            self._add_turn(
                TurnRecord("agent", heard, self._call_ms(first), self._call_ms(end), interrupted)
            )
        return heard

    def _add_turn(self, record: TurnRecord) -> None:
        self._result.turns.append(record)
        if self._on_turn is not None:
            self._on_turn(record)

    # --- time limits --------------------------------------------------------------------------

    async def _watchdog(self) -> None:
        loop = asyncio.get_running_loop()
        call = self._call
        while True:
            await asyncio.sleep(WATCHDOG_PERIOD_S)
            now = loop.time()
            if now - self._t0 >= call.max_duration_s:
                await self._close(call.max_duration_message, "max_duration")
                return
            if self._reply is not None or self._busy or self._detector.in_speech:
                self._last_activity = now
            elif now - self._last_activity >= call.silence_timeout_ms / 1000:
                if self._reprompts < call.max_silence_reprompts:
                    self._reprompts += 1
                    self._start_reply(_say(call.silence_reprompt), None, from_brain=False)
                else:
                    await self._close(call.silence_goodbye, "silence")
                    return

    async def _close(self, goodbye: str, reason: str) -> None:
        """Say the pipeline's last words and hang up; barge-in and caller turns are ignored,
        or the call would go on past its limit with no watchdog left to end it."""
        self._closing = True
        await self._stop_reply()
        self._start_reply(_say(goodbye, reason), None, from_brain=False)


def _inbound_quality(rate: int) -> Quality:
    """Upsampling (8 kHz phone audio) cannot alias, so take the filter with no hold-back."""
    return "QQ" if rate <= 16_000 else "LQ"


_END_REASONS: dict[str, EndReason] = {"silence": "silence", "max_duration": "max_duration"}


async def _say(text: str, hang_up: str | None = None) -> AsyncIterator[BrainEvent]:
    """Fixed words from the pipeline itself (reprompts, goodbyes), as brain events."""
    yield TextChunk(text)
    if hang_up is not None:
        yield HangUp(hang_up)
