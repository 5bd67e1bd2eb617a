"""The agent's voice in one call: at most one reply playing, and how it ends.

A reply is a :class:`~voxplane.pipeline.speaker.Speaker` running brain events (or the
pipeline's own words). It ends by itself (then the brain's action, hang-up or transfer, is
carried out), or is stopped (barge-in, a key, a continuation), and then only what the caller
heard is recorded and told to the brain. While the caller talks over it, it can be softened
(paused or lowered) and later restored: the soft barge-in.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from voxplane.agents.flow import is_emergency_number
from voxplane.agents.schema import BargeInConfig
from voxplane.errors import VoxplaneError
from voxplane.pipeline.records import EndReason, TurnMetrics, TurnRecord
from voxplane.pipeline.speaker import Speaker
from voxplane.pipeline.state import Answered, CallState
from voxplane.providers.base import TTS, Brain, BrainEvent, HangUp, TextChunk, Transfer
from voxplane.transports.base import Transport

log = logging.getLogger(__name__)

_END_REASONS: dict[str, EndReason] = {"silence": "silence", "max_duration": "max_duration"}


@dataclass(slots=True)
class ActiveReply:
    speaker: Speaker
    task: asyncio.Task[None]
    answering: Answered | None
    """The caller turn this answers; None for the pipeline's own words (reprompts,
    goodbyes) and the greeting."""
    from_brain: bool
    """False for the pipeline's own words: the brain never said them."""


class Replies:
    """Starts, softens, restores and stops the agent's replies (one at a time)."""

    def __init__(
        self,
        state: CallState,
        brain: Brain,
        tts: TTS,
        transport: Transport,
        barge_in: BargeInConfig,
    ) -> None:
        self._state = state
        self._brain = brain
        self._tts = tts
        self._transport = transport
        self._barge_in = barge_in
        self.active: ActiveReply | None = None

    @property
    def speaking(self) -> bool:
        return self.active is not None

    def start(
        self,
        events: AsyncIterator[BrainEvent],
        metrics: TurnMetrics | None,
        answering: Answered | None = None,
        *,
        from_brain: bool = True,
    ) -> None:
        if self._state.over:
            return  # the call is over: nothing more is said
        transport = self._transport
        # A line that carries only audio gets the keys as tones, played by the speaker.
        send_dtmf = None if transport.keys_in_band else transport.send_dtmf
        speaker = Speaker(self._tts, transport.sink, metrics, send_dtmf=send_dtmf)
        task = self._state.spawn(self._run(speaker, events))
        self.active = ActiveReply(speaker, task, answering, from_brain)

    def say(self, text: str, hang_up: str | None = None) -> None:
        """The pipeline's own words (reprompts, goodbyes); the brain never said them."""
        self.start(_say(text, hang_up), None, from_brain=False)

    def soften(self) -> bool:
        """Pause (or lower) the playing reply while the caller talks over it; False when
        nothing is playing."""
        if self.active is None:
            return False
        self.active.speaker.soften(self._barge_in.soften, self._barge_in.duck_db)
        return True

    def restore(self) -> None:
        """The caller's words were no interruption: the reply goes on at full level."""
        if self.active is not None:
            self.active.speaker.restore()

    @property
    def softened(self) -> bool:
        return self.active is not None and self.active.speaker.softened

    async def _run(self, speaker: Speaker, events: AsyncIterator[BrainEvent]) -> None:
        try:
            await speaker.speak(events)
        except* VoxplaneError as errors:  # the speaker's TaskGroup wraps provider errors
            reasons = "; ".join(str(error) for error in errors.exceptions)
            log.warning("agent answer failed", extra={"error": reasons})
        if speaker.failed is not None:
            self._state.provider_failed(speaker.failed)
        if self.active is not None and self.active.speaker is speaker:
            self.active = None
        self._record(speaker, interrupted=False, buffered_ms=0.0)
        match speaker.action:
            case HangUp(reason=reason):
                self._state.end(_END_REASONS.get(reason, "agent_hangup"))
                await self._transport.hang_up()
            case Transfer(target=target) if is_emergency_number(target):
                # Checked where the transfer is executed, whatever brain asked for it: an
                # AI agent never dials emergency services. The caller stays on the line.
                log.error("transfer to an emergency number refused")
            case Transfer(target=target):
                self._state.end("transfer", target)
                await self._transport.transfer(target)

    async def stop(self) -> None:
        """Interrupt the agent: stop synthesis and playout, keep only what was heard."""
        active, self.active = self.active, None
        if active is None:
            return
        active.task.cancel()
        await asyncio.wait([active.task])
        if active.speaker.failed is not None:
            self._state.provider_failed(active.speaker.failed)
        sink = self._transport.sink
        buffered = sink.buffered_ms()
        await sink.clear()
        heard = self._record(active.speaker, interrupted=True, buffered_ms=buffered)
        if active.answering is not None and active.speaker.times.first_frame is not None:
            active.answering.cut = True
        if active.from_brain:
            self._brain.on_interrupted(heard)

    def _record(self, speaker: Speaker, *, interrupted: bool, buffered_ms: float) -> str:
        state = self._state
        heard = speaker.heard(buffered_ms)
        state.result.tts_characters += speaker.characters
        state.last_activity = asyncio.get_running_loop().time()
        first, last = speaker.times.first_frame, speaker.times.last_frame
        if first is not None and last is not None and heard:
            end = last + 0.02 - buffered_ms / 1000
            state.add_turn(
                TurnRecord("agent", heard, state.call_ms(first), state.call_ms(end), interrupted)
            )
        return heard


async def _say(text: str, hang_up: str | None = None) -> AsyncIterator[BrainEvent]:
    """Fixed words from the pipeline itself (reprompts, goodbyes), as brain events."""
    yield TextChunk(text)
    if hang_up is not None:
        yield HangUp(hang_up)
