"""One call: listen, take turns, answer, and keep time.

::

    listening.py   source ─► resample 16 kHz ─► STT stream, VAD ─► turn detector
                   ─► committed turns; speech over the agent softens or cuts it
    responding.py  transcript ─► over the agent? ─► complete? (no: hold) ─► continuation?
                   ─► brain ─► reply
    replies.py     the reply playing: Speaker (TTS ─► pacer ─► sink); soften, restore, stop
    limits.py      silence reprompts, maximum call length
    keypad.py      keypad keys ─► brain (a complete entry is answered like a spoken turn);
                   remote hang-up ends the call

A batch STT (Whisper) is used through
:class:`~voxplane.providers.batch_stream.BatchStreamingSTT`, which owns the speculation and
the audio history. Every task belongs to the call's TaskGroup; ending the call cancels and
awaits all of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from voxplane.agents.schema import CallConfig, TurnConfig
from voxplane.media.vad import Vad
from voxplane.pipeline.keypad import Keypad
from voxplane.pipeline.limits import Watchdog
from voxplane.pipeline.listening import Listener
from voxplane.pipeline.records import CallResult, EndReason, TurnMetrics, TurnRecord
from voxplane.pipeline.replies import Replies
from voxplane.pipeline.responding import Responder
from voxplane.pipeline.state import CallState
from voxplane.providers.base import STT, TTS, Brain, StreamingSTT, SttHint
from voxplane.providers.batch_stream import PREROLL_MS, BatchStreamingSTT
from voxplane.transports.base import Transport

__all__ = ["PREROLL_MS", "CallParts", "CallSession"]

HISTORY_MARGIN_MS = 5000
"""Caller audio kept beyond the longest turn, for a held turn joined with the next."""


@dataclass(slots=True)
class CallParts:
    """The providers one call uses; the VAD is per call (it keeps state)."""

    stt: STT | StreamingSTT
    brain: Brain
    tts: TTS
    vad: Vad
    use_stt_hints: bool = True


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
        self._transport = transport
        self._state = CallState(on_turn)
        stt = parts.stt
        if isinstance(stt, STT):
            stt = BatchStreamingSTT(
                stt,
                history_ms=turn.max_turn_ms + PREROLL_MS + HISTORY_MARGIN_MS,
                speculative=turn.speculative_stt,
            )
        self._stream = stt.open(self._hint)
        self._replies = Replies(self._state, parts.brain, parts.tts, transport, turn.barge_in)
        self._listener = Listener(self._state, self._stream, parts.vad, turn, self._replies)
        self._responder = Responder(self._state, parts.brain, turn, self._listener, self._replies)
        self._watchdog = Watchdog(self._state, call, self._listener, self._replies)
        self._keypad = Keypad(self._state, parts.brain, self._replies)

    def _hint(self) -> SttHint | None:
        return self._parts.brain.stt_hint() if self._parts.use_stt_hints else None

    async def run(self) -> CallResult:
        state = self._state
        async with asyncio.TaskGroup() as group:
            state.start(group)
            tasks = [
                group.create_task(self._listener.run(self._transport.source)),
                group.create_task(self._listener.watch_results()),
                group.create_task(self._responder.run()),
                group.create_task(self._watchdog.run()),
                group.create_task(self._keypad.run(self._transport)),
            ]
            self._replies.start(self._parts.brain.greet(), None)
            await state.done.wait()
            await self._replies.stop()
            for task in tasks:
                task.cancel()
            # Transcriptions nobody will read: the group would otherwise wait them out.
            while not state.turns.empty():
                state.turns.get_nowait().transcript.cancel()
            await self._stream.end()
        state.result.stt_audio_ms = self._stream.audio_ms
        state.result.llm_tokens = self._parts.brain.llm_tokens()
        state.result.turns.sort(key=lambda t: (t.start_ms, t.role == "agent"))
        return state.result

    @property
    def metrics(self) -> tuple[TurnMetrics, ...]:
        """The latency of each caller turn answered so far (live progress)."""
        return tuple(self._state.result.metrics)

    def end(self, reason: EndReason) -> None:
        """End the call now from outside (the worker shutting down); :meth:`run` returns
        the record once every task of the call has stopped."""
        self._state.end(reason)
