"""Turn-taking that knows when the caller is not done: incomplete turns are held, not
answered, so a caller who pauses mid-number is never talked over."""

from __future__ import annotations

import numpy as np
from _pipeline_harness import TURN, Call, run_call

from voxplane.agents.flow import FlowConfig
from voxplane.agents.schema import TurnConfig
from voxplane.providers.flow import FlowBrain
from voxplane.testing.fakes import ScriptedBrain, ScriptedSTT, caller_speech, silence
from voxplane.transports.simulated import CallerTurn

FLOW = FlowConfig.model_validate(
    {
        "type": "flow",
        "start": "number",
        "nodes": {
            "number": {
                "gather": {
                    "slot": "number",
                    "type": "digits",
                    "min_length": 4,
                    "max_length": 4,
                    "prompt": "Your number?",
                    "retry": "Sorry, the whole number?",
                },
                "next": "confirm",
            },
            "confirm": {
                "say": "Number {number}. Right?",
                "gather": {"slot": "ok", "type": "yes_no"},
                "transitions": [
                    {"when": {"slot": "ok", "equals": "yes"}, "to": "done"},
                    {"when": {"slot": "ok", "equals": "no"}, "to": "number"},
                ],
            },
            "done": {"say": "Thanks.", "action": {"type": "hangup"}},
        },
    }
)
OFF = TURN.model_copy(update={"incomplete_ms": 0})


def paused(pause_ms: int, first: int = 0, ms: int = 600) -> CallerTurn:
    """One caller turn: utterance ``first``, a pause, the next one (ScriptedSTT's)."""
    audio = np.concatenate(
        [caller_speech(first, ms), silence(pause_ms), caller_speech(first + 1, ms)]
    )
    return CallerTurn(audio, 16_000)


def digits_call(turns: list[CallerTurn], transcripts: list[str], turn: TurnConfig = TURN) -> Call:
    return run_call(turns, transcripts, FlowBrain(FLOW), turn=turn)


def test_incomplete_digits_are_held_and_the_rest_joins_them() -> None:
    c = digits_call([paused(700)], ["Four two.", "Seven one."])
    assert c.texts("user") == ["Four two. Seven one."]
    assert c.texts("agent") == ["Your number?", "Number 4271. Right?"]
    answer = c.agent(1)
    assert not answer.interrupted and answer.start_ms > c.user(0).end_ms
    assert c.caller.sink.cleared == 0  # no agent audio was started and cut
    assert (c.result.held_turns, c.result.false_starts) == (1, 0)
    assert [m.turn for m in c.result.metrics] == [1]
    # The rest is transcribed together with the held words, as one utterance.
    assert max(ms for ms, _ in c.stt.calls) >= 600 + 700 + 600


def test_a_caller_going_on_before_the_hold_is_decided_is_heard_as_one_turn() -> None:
    # Speech to text takes 0.9 s, longer than the pause: the caller is already saying the
    # rest when the brain finds "four two" incomplete.
    stt = ScriptedSTT(["Four two.", "Seven one."], delay_s=0.9)
    c = run_call([paused(700)], brain=FlowBrain(FLOW), stt=stt)
    assert c.texts("user") == ["Four two. Seven one."]
    assert c.texts("agent") == ["Your number?", "Number 4271. Right?"]
    assert max(ms for ms, _ in c.stt.calls) >= 600 + 700 + 600
    assert (c.result.held_turns, c.result.false_starts) == (1, 0)


def test_parts_heard_apart_before_the_hold_are_heard_again_as_one() -> None:
    # Speech to text takes 2 s: both parts are transcribed alone before the brain finds
    # "four two" incomplete, so the joined turn is transcribed once more, whole.
    stt = ScriptedSTT(["Four two.", "Seven one."], delay_s=2.0)
    c = run_call([paused(700)], brain=FlowBrain(FLOW), stt=stt)
    assert c.texts("user") == ["Four two. Seven one."]
    assert c.texts("agent") == ["Your number?", "Number 4271. Right?"]
    assert [ms >= 600 + 700 + 600 for ms, _ in c.stt.calls] == [False, False, True]


def test_without_holding_the_agent_starts_in_the_pause_and_is_cut() -> None:
    c = digits_call([paused(700)], ["Four two.", "Seven one."], turn=OFF)
    # The old repair still merges the words, but the caller heard the retry begin.
    assert c.texts("user") == ["Four two. Seven one."]
    assert c.agent(1).interrupted and "Sorry, the whole number?".startswith(c.agent(1).text)
    assert (c.result.held_turns, c.result.false_starts) == (0, 1)


def test_complete_digits_are_answered_at_once() -> None:
    said = [CallerTurn(caller_speech(0, 1500), 16_000)]
    on = digits_call(said, ["Four two seven one."])
    off = digits_call(said, ["Four two seven one."], turn=OFF)
    expected = ["Your number?", "Four two seven one.", "Number 4271. Right?"]
    assert on.texts() == off.texts() == expected
    assert on.result.held_turns == 0
    v2v = [m.voice_to_voice_ms for m in on.result.metrics]
    assert v2v == [m.voice_to_voice_ms for m in off.result.metrics] and v2v[0] is not None
    assert v2v[0] < TURN.end_of_speech_ms + 200  # answered at the end-of-speech silence


def test_a_first_digit_heard_as_a_word_is_held_and_the_rest_joins_it() -> None:
    # "nine" in a pause, heard as "Nice.": no digits, but not a reply the flow acts on.
    c = digits_call([paused(700)], ["Nice.", "Four two seven one."])
    assert c.texts("user") == ["Nice. Four two seven one."]
    assert c.texts("agent") == ["Your number?", "Number 4271. Right?"]
    assert c.caller.sink.cleared == 0
    assert (c.result.held_turns, c.result.false_starts) == (1, 0)


def test_a_reply_that_is_not_a_number_is_answered_at_once() -> None:
    said = [CallerTurn(caller_speech(0, 900), 16_000)]
    on = digits_call(said, ["I don't have it."])
    off = digits_call(said, ["I don't have it."], turn=OFF)
    assert (
        on.texts()
        == off.texts()
        == ["Your number?", "I don't have it.", "Sorry, the whole number?"]
    )
    assert on.result.held_turns == 0
    v2v = [m.voice_to_voice_ms for m in on.result.metrics]
    assert v2v == [m.voice_to_voice_ms for m in off.result.metrics] and v2v[0] is not None
    assert v2v[0] < TURN.end_of_speech_ms + 200


def test_silence_after_an_incomplete_turn_is_answered_after_incomplete_ms() -> None:
    c = digits_call([CallerTurn(caller_speech(0, 600), 16_000)], ["Four two."])
    assert c.texts() == ["Your number?", "Four two.", "Sorry, the whole number?"]
    assert c.result.held_turns == 1
    wait = c.agent(1).start_ms - c.user(0).end_ms
    assert TURN.incomplete_ms <= wait < TURN.incomplete_ms + 200, wait


def test_a_caller_resuming_after_incomplete_ms_talks_over_the_reprompt() -> None:
    # 1.6 s of silence: the held turn is answered at 1.2 s, and the caller's next words
    # cut that answer; the continuation repair still makes it one turn.
    c = digits_call([paused(1600)], ["Four two.", "Seven one."])
    assert c.texts("user") == ["Four two. Seven one."]
    retry = c.agent(1)
    assert retry.interrupted and retry.start_ms - c.user(0).start_ms >= 600 + TURN.incomplete_ms
    assert c.texts("agent")[-1] == "Number 4271. Right?"
    assert (c.result.held_turns, c.result.false_starts) == (1, 1)


def test_a_turn_held_twice_is_one_turn() -> None:
    audio = np.concatenate(
        [
            caller_speech(0, 400),
            silence(600),
            caller_speech(1, 400),
            silence(900),
            caller_speech(2, 400),
        ]
    )
    c = digits_call([CallerTurn(audio, 16_000)], ["Four.", "Two.", "Seven one."])
    assert c.texts("user") == ["Four. Two. Seven one."]
    assert c.texts("agent")[-1] == "Number 4271. Right?"
    assert (c.result.held_turns, c.result.false_starts) == (1, 0)


def test_an_understood_yes_is_answered_at_once_and_an_um_is_held() -> None:
    said = [CallerTurn(caller_speech(0, 1500), 16_000), paused(700, first=1, ms=400)]
    c = digits_call(said, ["Four two seven one.", "Um,", "Yes."])
    # "Um," then "yes" after 0.7 s: one turn, and the call ends with the flow's goodbye.
    assert c.texts("user") == ["Four two seven one.", "Um, Yes."]
    assert c.texts("agent")[-1] == "Thanks."
    assert (c.result.held_turns, c.result.false_starts) == (1, 0)


def test_free_speech_that_stops_on_a_preposition_waits_for_the_rest() -> None:
    brain = ScriptedBrain("Hello.", ["Sure.", "Bye."])
    said = [paused(700), CallerTurn(caller_speech(2, 600), 16_000)]
    c = run_call(said, ["I'd like to", "book a cleaning.", "Thanks."], brain)
    assert brain.received == ["I'd like to book a cleaning.", "Thanks."]
    assert c.texts() == ["Hello.", "I'd like to book a cleaning.", "Sure.", "Thanks.", "Bye."]
    assert (c.result.held_turns, c.result.false_starts) == (1, 0)
