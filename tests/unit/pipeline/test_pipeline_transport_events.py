"""The transport's events besides audio: keypad keys, a remote hang-up; playout waits;
emergency transfer targets refused where the transfer is executed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
from _pipeline_harness import LONG_ANSWER, run_call, say

from voxplane.providers.base import BrainEvent, SendDtmf, TextChunk, Transfer
from voxplane.testing.dtmf import detect_keys
from voxplane.testing.fakes import ScriptedBrain
from voxplane.transports.base import CallEvent, RemoteHangup
from voxplane.transports.simulated import CallerPolicy, CallerTurn, SimulatedCaller


class KeypadBrain(ScriptedBrain):
    """Gathers keys until ``#``; the entry is the digits without it."""

    def __init__(self, greeting: str, replies: list[str]) -> None:
        super().__init__(greeting, replies)
        self.keys = ""

    def on_dtmf(self, key: str) -> str | None:
        if key != "#":
            self.keys += key
            return None
        entry, self.keys = self.keys, ""
        return entry


def keys(dtmf: str, barge_in_at_ms: int | None = None) -> CallerTurn:
    return CallerTurn(np.zeros(0, np.int16), 16_000, barge_in_at_ms, dtmf=dtmf)


def test_a_keypad_entry_is_answered_like_a_spoken_turn() -> None:
    brain = KeypadBrain("Enter your patient number, then pound.", ["Thanks, found you."])
    c = run_call([keys("4271#")], brain=brain)
    assert brain.received == ["4271"]
    assert c.texts() == ["Enter your patient number, then pound.", "4271", "Thanks, found you."]
    assert c.result.metrics[0].turn == 1


def test_keys_and_speech_mix_in_one_call() -> None:
    brain = KeypadBrain("Hello.", ["Say your name.", "Thanks."])
    c = run_call([keys("12#"), say(0, 800)], ["Ada Lovelace."], brain)
    assert brain.received == ["12", "Ada Lovelace."]
    assert c.texts("user") == ["12", "Ada Lovelace."]


def test_a_key_interrupts_the_agent() -> None:
    brain = KeypadBrain(LONG_ANSWER, ["Thanks."])
    c = run_call([keys("7#", barge_in_at_ms=1000)], brain=brain)
    greeting = c.agent(0)
    assert greeting.interrupted
    assert 0 < len(greeting.text.split()) < len(LONG_ANSWER.split())
    assert brain.received == ["7"]


class EmergencyBrain(ScriptedBrain):
    async def respond(self, user_text: str) -> AsyncIterator[BrainEvent]:
        self.received.append(user_text)
        yield TextChunk("Connecting you. ")
        yield Transfer("911")


def test_a_transfer_to_an_emergency_number_is_never_executed() -> None:
    c = run_call([say(0, 800)], ["Call an ambulance."], EmergencyBrain("Hello."))
    assert c.caller.transferred_to is None
    assert c.result.ended_by == "caller_hangup"
    assert c.result.transfer_target is None


class HangsUpAfter(SimulatedCaller):
    """Keeps sending audio, but its signalling says the caller hung up after a second."""

    async def events(self) -> AsyncIterator[CallEvent]:
        await asyncio.sleep(1.0)
        yield RemoteHangup()


def test_a_remote_hang_up_ends_the_call_while_audio_still_flows() -> None:
    caller = HangsUpAfter([say(0, 8000)])
    c = run_call([], caller=caller)
    assert c.result.ended_by == "caller_hangup"
    assert c.ended_at < 2.0


class NeverConfirms(SimulatedCaller):
    """A sink that reports audio buffered forever and never confirms playout."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.sink.buffered_ms = lambda: 400.0  # type: ignore[method-assign]

        async def never() -> None:
            await asyncio.Event().wait()

        self.sink.wait_for_playout = never  # type: ignore[method-assign]


def test_a_peer_that_never_confirms_playout_cannot_stall_the_call() -> None:
    brain = ScriptedBrain("Hello.", ["Goodbye."], hang_up_after=1)
    patient = CallerPolicy(agent_idle_ms=5000)  # hangs up only if the agent never does
    caller = NeverConfirms([say(0, 800)], policy=patient)
    c = run_call([], ["Bye."], brain, caller=caller)
    assert c.result.ended_by == "agent_hangup"
    assert c.caller.hung_up


class AudioOnlyLine(SimulatedCaller):
    """A phone line that carries only audio, as a carrier's media stream does."""

    keys_in_band = True

    async def send_dtmf(self, keys: str) -> None:
        raise AssertionError("an audio-only line has no way to send keys")


class PressingBrain(ScriptedBrain):
    """Greets, presses keys, and says a word after them."""

    async def greet(self) -> AsyncIterator[BrainEvent]:
        yield TextChunk("Pressing one.")
        yield SendDtmf("1#")
        yield TextChunk("Done.")


def test_keys_go_on_an_audio_only_line_as_tones_after_the_words() -> None:
    line = AudioOnlyLine([say(3000, 400)], phone=True)
    c = run_call([], ["Thanks."], PressingBrain("", ["Bye."], hang_up_after=1), caller=line)
    _, agent = line._line.stereo()
    assert detect_keys(agent, 8000) == "1#"  # G.711 both ways, as on the phone
    assert c.texts("agent")[0] == "Pressing one. Done."
    assert line.dtmf_sent == ""
