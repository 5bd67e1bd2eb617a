"""The transport's events besides audio: keypad keys, and the caller hanging up."""

from __future__ import annotations

import asyncio

from voxplane.pipeline.records import TurnMetrics, TurnRecord
from voxplane.pipeline.replies import Replies
from voxplane.pipeline.state import CallState
from voxplane.providers.base import Brain
from voxplane.transports.base import Dtmf, RemoteHangup, Transport


class Keypad:
    """A key interrupts the agent (callers type ahead of a prompt they know); a complete
    keypad entry is answered through the brain like a spoken turn."""

    def __init__(self, state: CallState, brain: Brain, replies: Replies) -> None:
        self._state = state
        self._brain = brain
        self._replies = replies

    async def run(self, transport: Transport) -> None:
        async for event in transport.events():
            match event:
                case Dtmf(key=key):
                    await self._on_key(key)
                case RemoteHangup():
                    self._state.end("caller_hangup")
                    return

    async def _on_key(self, key: str) -> None:
        state = self._state
        now = asyncio.get_running_loop().time()
        state.last_activity = now
        if state.closing or state.over:
            return
        await self._replies.stop()
        entry = self._brain.on_dtmf(key)
        if entry is None:
            return
        state.reprompts = 0
        state.turn_count += 1
        metrics = TurnMetrics(state.turn_count, speech_end=now, endpoint=now, stt_final=now)
        state.result.metrics.append(metrics)
        state.add_turn(TurnRecord("user", entry, state.call_ms(now), state.call_ms(now)))
        state.answered = None  # speech after a keypad entry never continues it
        self._replies.start(self._brain.respond(entry), metrics)
