"""Responding: each committed caller turn is judged, then answered through the brain.

::

    turn ─► transcript ─► over the agent? backchannel or nothing: the agent goes on
                │                        real words: a softened agent is cut
                ▼
            complete? (no: hold, listening, up to incomplete_ms; what the caller says
                │      next joins the turn)
                ▼
            continuation? (roll the brain back, answer both parts) ─► brain ─► reply
"""

from __future__ import annotations

import asyncio
import dataclasses

from voxplane.agents.schema import TurnConfig
from voxplane.pipeline.listening import Listener
from voxplane.pipeline.records import TurnRecord
from voxplane.pipeline.replies import Replies
from voxplane.pipeline.state import Answered, CallState, UserTurn
from voxplane.pipeline.text import is_backchannel
from voxplane.providers.base import Brain


class Responder:
    """Takes committed caller turns in order and answers each (or lets it pass)."""

    def __init__(
        self,
        state: CallState,
        brain: Brain,
        turn: TurnConfig,
        listener: Listener,
        replies: Replies,
    ) -> None:
        self._state = state
        self._brain = brain
        self._turn = turn
        self._listener = listener
        self._replies = replies

    async def run(self) -> None:
        state = self._state
        while True:
            turn = await state.turns.get()
            try:
                if turn.softened:
                    await self._bounded_pause(turn)
                text = await _heard(turn)
                if await self._over_the_agent(turn, text):
                    continue
                turn, text = await self._whole_turn(turn, text)
                await self._answer(turn, text)
            finally:
                state.busy -= 1
                if state.turns.empty():
                    # Every caller turn is settled: a reply still softened (its turn was
                    # dropped, or held and joined) goes on, unless the caller talks over it.
                    self._listener.restore_agent()

    async def _bounded_pause(self, turn: UserTurn) -> None:
        """Wait for a softening turn's words no longer than ``barge_in.max_pause_ms`` past
        its end with the agent paused: then the agent goes on while recognition ends."""
        max_pause_ms = self._turn.barge_in.max_pause_ms
        if max_pause_ms == 0 or turn.metrics.endpoint is None:
            return
        deadline = turn.metrics.endpoint + max_pause_ms / 1000
        wait = deadline - asyncio.get_running_loop().time()
        done, _ = await asyncio.wait({turn.transcript}, timeout=max(0.0, wait))
        if not done:
            self._listener.restore_agent()

    async def _over_the_agent(self, turn: UserTurn, text: str) -> bool:
        """Settle caller words said over a reply that is still playing: True when they
        were no interruption (a backchannel, or nothing recognizable) and the reply goes
        on; a reply the caller's speech softened is cut when they were real words."""
        replies = self._replies
        if not (replies.speaking and turn.overlapped and not turn.barged_in):
            return False
        if not text or is_backchannel(text, self._turn.backchannels):
            self._let_the_agent_go_on(turn)
            return True
        if turn.softened and not self._state.closing:
            await replies.stop()
            turn.barged_in = True
        return False

    def _let_the_agent_go_on(self, turn: UserTurn) -> None:
        if turn.softened:
            self._state.result.resumed_after_backchannel += 1
            self._listener.restore_agent()

    async def _whole_turn(self, turn: UserTurn, text: str) -> tuple[UserTurn, str]:
        """The caller's turn and its words, held while the brain finds them incomplete.

        A held turn is not answered: the session keeps listening until ``incomplete_ms`` of
        silence, and what the caller says before then joins it. Deciding before speaking
        means the caller is never talked over in a pause; a complete turn waits no longer.
        """
        if self._turn.incomplete_ms <= self._turn.end_of_speech_ms:
            return turn, text  # holding is off
        state = self._state
        # A continuation is judged with the words it continues (they are answered together).
        answered = state.answered if turn.continues else None
        before = answered.text if answered is not None and answered.checkpoint is not None else ""
        held = pieced = False
        while text and not self._brain.turn_complete(f"{before} {text}".strip()):
            if not held:
                held = True
                state.result.held_turns += 1
            self._listener.hold_from(turn.start_ms)
            following = await self._next_part(turn)
            if following is None:
                break  # the caller stayed quiet: answer what they said
            more = await _heard(following)
            # Transcribed from the held turn's start, the words are the whole turn's.
            whole = following.heard_from_ms <= turn.start_ms
            text = more if whole else f"{text} {more}".strip()
            pieced = not whole
            turn = dataclasses.replace(
                following,
                start_ms=turn.start_ms,
                continues=turn.continues,
                barged_in=turn.barged_in or following.barged_in,
            )
        self._listener.release_hold()
        if pieced:  # the caller went on before the hold began: hear the whole once more
            turn.transcript = self._listener.transcribe(turn.start_ms, turn.end_ms)
            text = await _heard(turn) or text
        return turn, text

    async def _next_part(self, held: UserTurn) -> UserTurn | None:
        """The caller's next words, or None once ``incomplete_ms`` of silence has passed
        since ``held`` ended with no speech going on."""
        state = self._state
        loop = asyncio.get_running_loop()
        deadline = state.wall(held.end_ms) + self._turn.incomplete_ms / 1000
        while True:
            wait = None if self._listener.in_turn else deadline - loop.time()
            if wait is not None and wait <= 0 and state.turns.empty():
                return None
            try:
                async with asyncio.timeout(wait):
                    part = await state.turns.get()
            except TimeoutError:
                continue
            state.busy -= 1  # counted from here on as part of the held turn
            return part

    async def _answer(self, turn: UserTurn, text: str) -> None:
        state = self._state
        if not text or state.closing or state.over:
            return
        speaking = self._replies.speaking and turn.overlapped and not turn.barged_in
        if speaking and is_backchannel(text, self._turn.backchannels):
            self._let_the_agent_go_on(turn)
            return
        await self._replies.stop()
        start_ms = state.call_ms(state.wall(turn.start_ms))
        previous = state.answered if turn.continues else None
        if previous is not None and previous.cut:
            state.result.false_starts += 1  # the caller heard an answer begin, and went on
        if previous is not None and previous.checkpoint is not None:
            # The caller had only paused: take the answered part back, answer the whole.
            self._brain.rollback(previous.checkpoint)
            state.result.turns.remove(previous.record)
            state.result.metrics.remove(previous.metrics)
            text = f"{previous.text} {text}"
            start_ms = previous.record.start_ms
        else:
            state.turn_count += 1
        state.reprompts = 0
        turn.metrics.turn = state.turn_count
        record = TurnRecord("user", text, start_ms, state.call_ms(state.wall(turn.end_ms)))
        state.result.metrics.append(turn.metrics)
        checkpoint = self._brain.checkpoint()
        state.answered = Answered(text, checkpoint, record, turn.metrics)
        self._replies.start(self._brain.respond(text), turn.metrics, state.answered)
        # Recorded once the answer is on its way: whatever hears of the entry (the call's
        # live events and their database writer) then runs after the answer's first step.
        state.add_turn(record)


async def _heard(turn: UserTurn) -> str:
    """The turn's transcript, once speech to text has it (its time goes in the metrics)."""
    text, stt_done = await turn.transcript
    turn.metrics.stt_final = stt_done
    return text.strip()
