"""What reaches the STT: the brain's hint, and phone-line audio."""

from __future__ import annotations

from _pipeline_harness import run_call, say

from voxplane.providers.base import SttHint
from voxplane.testing.fakes import ScriptedBrain

DIGITS = SttHint("digits", prompt="4 1 7 3", phrases=("zero", "oh"))


def test_the_brain_hint_reaches_the_stt() -> None:
    c = run_call([say(0, 800)], ["4173."], ScriptedBrain("Your PIN?", hint=DIGITS))
    assert [hint for _, hint in c.stt.calls] == [DIGITS]


def test_hints_can_be_turned_off() -> None:
    brain = ScriptedBrain("Your PIN?", hint=DIGITS)
    c = run_call([say(0, 800)], ["4173."], brain, use_stt_hints=False)
    assert [hint for _, hint in c.stt.calls] == [None]
    assert c.texts("user") == ["4173."]


def test_phone_line_gives_the_same_transcript() -> None:
    def call(phone: bool) -> list[str]:
        brain = ScriptedBrain("Hello.", ["Which day?", "Booked. Goodbye."], hang_up_after=2)
        turns = [say(0, 1500), say(1, 1000)]
        c = run_call(turns, ["Book a cleaning.", "Tuesday at ten."], brain, phone=phone)
        assert c.caller.sample_rate == (8000 if phone else 16_000)
        assert c.result.ended_by == "agent_hangup"
        return c.texts()

    phone = call(phone=True)
    assert phone == call(phone=False)
    assert phone[1::2] == ["Book a cleaning.", "Tuesday at ten."]
