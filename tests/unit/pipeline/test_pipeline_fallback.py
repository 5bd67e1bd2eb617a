"""A call whose primary speech providers fail goes on without a dropped turn: the fallback
answers, the failing provider's breaker opens, and the wait stays within the attempt
timeout (virtual time)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from _pipeline_harness import TURN, say

from voxplane.agents.schema import CallConfig
from voxplane.errors import ProviderError
from voxplane.media.frame import AudioFrame, Pcm16
from voxplane.pipeline.session import CallParts, CallSession
from voxplane.providers.base import STT, SttCapabilities, SttHint, Transcript
from voxplane.providers.breaker import BreakerBoard, BreakerPolicy, BreakerState
from voxplane.providers.fallback import (
    FallbackRouter,
    FallbackSTT,
    FallbackTTS,
    Member,
    RoutingPolicy,
)
from voxplane.testing.clock import run_virtual
from voxplane.testing.fakes import ScriptedBrain, ScriptedSTT, ScriptedTTS, ToneVad
from voxplane.transports.simulated import SimulatedCaller

ATTEMPT_S = 0.8


class SilentSTT(STT):
    """A scripted cloud STT that never answers (a provider hanging)."""

    capabilities = SttCapabilities(streaming=False, hints=False)

    def __init__(self) -> None:
        self.calls = 0

    async def recognize(self, samples: Pcm16, hint: SttHint | None = None) -> Transcript:
        self.calls += 1
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")


class DownTTS(ScriptedTTS):
    """A scripted cloud TTS answering HTTP 503 to everything."""

    async def synthesize(self, text: str) -> AsyncIterator[AudioFrame]:
        self.spoken.append(text)
        await asyncio.sleep(0.02)
        raise ProviderError("tts answered HTTP 503", retryable=True)
        yield  # an async generator, like the real adapters


def test_the_call_goes_on_when_both_primaries_fail() -> None:
    board = BreakerBoard()
    policy = BreakerPolicy(failures=2, cooldown_s=60.0)
    routing = RoutingPolicy(attempt_timeout_s=ATTEMPT_S)
    silent, stt_backup = SilentSTT(), ScriptedSTT(["First.", "Second.", "Third."])
    down, tts_backup = DownTTS(), ScriptedTTS()
    stt = FallbackSTT(
        FallbackRouter(
            "stt",
            [
                Member("pl-stt-primary", silent, board.breaker("stt", "p", "a", policy)),
                Member("pl-stt-backup", stt_backup, board.breaker("stt", "b", "a", policy)),
            ],
            routing,
        )
    )
    tts = FallbackTTS(
        FallbackRouter(
            "tts",
            [
                Member("pl-tts-primary", down, board.breaker("tts", "p", "a", policy)),
                Member("pl-tts-backup", tts_backup, board.breaker("tts", "b", "a", policy)),
            ],
            routing,
        )
    )
    brain = ScriptedBrain("Hello.", ["One.", "Two.", "Three."])
    caller = SimulatedCaller([say(0, 800), say(1, 800), say(2, 800)])
    parts = CallParts(stt, brain, tts, ToneVad(), use_stt_hints=True)
    turn = TURN.model_copy(update={"speculative_stt": False})  # one STT request per turn
    session = CallSession(parts, caller, turn, CallConfig())

    result = run_virtual(session.run())

    texts = [t.text for t in result.turns]
    assert texts == ["Hello.", "First.", "One.", "Second.", "Two.", "Third.", "Three."]
    assert tts_backup.spoken == ["Hello.", "One.", "Two.", "Three."]
    # the primaries failed twice each, then their breakers kept them out of the call
    assert (silent.calls, len(down.spoken)) == (2, 2)
    assert board.breaker("stt", "p", "a", policy).state is BreakerState.OPEN
    assert board.breaker("tts", "p", "a", policy).state is BreakerState.OPEN
    # no caller waited longer than one attempt timeout beyond the usual answer time
    waits = [m.voice_to_voice_ms for m in result.metrics]
    assert all(w is not None and w < 1000 * ATTEMPT_S + 700 for w in waits), waits
    assert waits[-1] is not None and waits[-1] < waits[0]  # once open, no waiting at all
    assert result.ended_by == "caller_hangup"
