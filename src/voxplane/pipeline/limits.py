"""The call's limits: silence reprompts, the silence goodbye, the maximum call length."""

from __future__ import annotations

import asyncio

from voxplane.agents.schema import CallConfig
from voxplane.pipeline.listening import Listener
from voxplane.pipeline.replies import Replies
from voxplane.pipeline.state import CallState

WATCHDOG_PERIOD_S = 0.1


class Watchdog:
    """Checks the call's limits every :data:`WATCHDOG_PERIOD_S`."""

    def __init__(
        self, state: CallState, call: CallConfig, listener: Listener, replies: Replies
    ) -> None:
        self._state = state
        self._call = call
        self._listener = listener
        self._replies = replies

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        state, call = self._state, self._call
        while True:
            await asyncio.sleep(WATCHDOG_PERIOD_S)
            now = loop.time()
            if now - state.t0 >= call.max_duration_s:
                await self._close(call.max_duration_message, "max_duration")
                return
            if self._replies.speaking or state.busy or self._listener.in_speech:
                state.last_activity = now
            elif now - state.last_activity >= call.silence_timeout_ms / 1000:
                if state.reprompts < call.max_silence_reprompts:
                    state.reprompts += 1
                    self._replies.say(call.silence_reprompt)
                else:
                    await self._close(call.silence_goodbye, "silence")
                    return

    async def _close(self, goodbye: str, reason: str) -> None:
        """Say the pipeline's last words and hang up; barge-in and caller turns are ignored,
        or the call would go on past its limit with no watchdog left to end it."""
        self._state.closing = True
        await self._replies.stop()
        self._replies.say(goodbye, reason)
