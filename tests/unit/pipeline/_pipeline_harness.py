"""A ten-line pipeline test: scripted providers, a simulated caller, virtual time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from voxplane.agents.schema import CallConfig, TurnConfig
from voxplane.media.frame import AudioFrame
from voxplane.media.vad import Vad
from voxplane.pipeline.records import CallResult, TurnRecord
from voxplane.pipeline.session import CallParts, CallSession
from voxplane.providers.base import Brain
from voxplane.testing.clock import run_virtual
from voxplane.testing.fakes import (
    ScriptedBrain,
    ScriptedStreamingSTT,
    ScriptedSTT,
    ScriptedTTS,
    ToneVad,
    caller_speech,
)
from voxplane.transports.simulated import CallerPolicy, CallerTurn, SimulatedCaller

TURN = TurnConfig(vad="energy")
"""Defaults: min speech 120 ms, end of speech 300 ms, barge-in after 500 ms of speech."""
LONG_ANSWER = (
    "Our office is open Monday to Friday from nine to five and on Saturdays from ten to two."
)
"""18 words: 5.4 s of ScriptedTTS audio, long enough to talk over."""


def say(index: int, ms: int, barge_in_at_ms: int | None = None) -> CallerTurn:
    """Caller utterance ``index`` (ScriptedSTT's transcript ``index``), ``ms`` long."""
    return CallerTurn(caller_speech(index, ms), 16_000, barge_in_at_ms)


class TimedTTS(ScriptedTTS):
    """ScriptedTTS that also notes when (loop time) each text started synthesizing."""

    def __init__(self, first_audio_s: float = 0.05) -> None:
        super().__init__(first_audio_s=first_audio_s)
        self.started_at: list[float] = []

    def synthesize(self, text: str) -> AsyncIterator[AudioFrame]:
        self.started_at.append(asyncio.get_running_loop().time())
        return super().synthesize(text)


@dataclass
class Call:
    """Everything a finished simulated call leaves for a test to look at."""

    result: CallResult
    stt: ScriptedSTT | ScriptedStreamingSTT
    brain: Brain
    tts: ScriptedTTS
    caller: SimulatedCaller
    ended_at: float
    """Loop time when ``run()`` returned."""
    leftover: set[asyncio.Task[object]]
    """Tasks created during the call and still pending after ``run()`` returned."""

    def texts(self, role: str | None = None) -> list[str]:
        return [t.text for t in self.result.turns if role in (None, t.role)]

    def agent(self, index: int) -> TurnRecord:
        return [t for t in self.result.turns if t.role == "agent"][index]

    def user(self, index: int) -> TurnRecord:
        return [t for t in self.result.turns if t.role == "user"][index]


def run_call(
    caller_turns: Sequence[CallerTurn],
    transcripts: Sequence[str] = (),
    brain: Brain | None = None,
    *,
    turn: TurnConfig = TURN,
    call: CallConfig | None = None,
    stt: ScriptedSTT | ScriptedStreamingSTT | None = None,
    tts: ScriptedTTS | None = None,
    phone: bool = False,
    use_stt_hints: bool = True,
    policy: CallerPolicy | None = None,
    caller: SimulatedCaller | None = None,
    vad: Vad | None = None,
) -> Call:
    """Run one call in virtual time; also reports tasks the session left pending.

    ``caller`` replaces the simulated caller made from ``caller_turns``; ``vad`` the
    ToneVad."""
    stt = stt or ScriptedSTT(transcripts)
    brain = brain or ScriptedBrain("Hello.")
    tts = tts or ScriptedTTS()
    caller = caller or SimulatedCaller(caller_turns, phone=phone, policy=policy)
    parts = CallParts(stt, brain, tts, vad or ToneVad(), use_stt_hints=use_stt_hints)
    session = CallSession(parts, caller, turn, call or CallConfig())

    async def main() -> tuple[CallResult, float, set[asyncio.Task[object]]]:
        before = asyncio.all_tasks()
        result = await session.run()
        leftover = {t for t in asyncio.all_tasks() - before if not t.done()}
        return result, asyncio.get_running_loop().time(), leftover

    result, ended_at, leftover = run_virtual(main())
    return Call(result, stt, brain, tts, caller, ended_at, leftover)
