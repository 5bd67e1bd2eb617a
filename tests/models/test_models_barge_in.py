"""Soft barge-in on the real local stack: Silero VAD, Whisper, the flow brain, Piper.

The caller talks over the agent's long greeting on a phone line. A backchannel longer than
``barge_in.min_speech_ms`` pauses the agent, which then goes on; real words cut it. The
backchannels are synthetic (espeak-ng, see ``data/README.md``: no human recording exists);
the interruption is a human speaker from ``../shared/audio/sentences``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from voxplane.agents.schema import AgentConfig
from voxplane.media.wav import decode_wav
from voxplane.pipeline.records import CallResult
from voxplane.runtime.factory import LocalModels
from voxplane.runtime.local import run_call
from voxplane.testing.clock import run_virtual
from voxplane.transports.simulated import CallerTurn, SimulatedCaller

DATA = Path(__file__).parent / "data"
SENTENCES = Path(__file__).resolve().parents[2].parent / "shared" / "audio" / "sentences"
GREETING = (
    "Thanks for calling Acme Dental. Our office is open Monday to Friday from eight in the "
    "morning to five in the evening, and on Saturdays from nine to noon. We can book a "
    "cleaning, a checkup or an emergency visit. What can I do for you today?"
)
TALK_OVER_AT_MS = 2500
"""When the caller starts talking, counted from the start of the greeting."""


def _agent(mode: str, max_pause_ms: int = 1000) -> AgentConfig:
    return AgentConfig.model_validate(
        {
            "name": "soft-barge-in",
            "call": {"first_message": GREETING},
            "turn": {"barge_in": {"mode": mode, "max_pause_ms": max_pause_ms}},
            "brain": {
                "type": "flow",
                "start": "ask",
                "nodes": {
                    "ask": {
                        "gather": {"slot": "request", "type": "free_text"},
                        "next": "done",
                    },
                    "done": {"say": "Noted. Goodbye.", "action": {"type": "hangup"}},
                },
            },
        }
    )


def _sentence() -> tuple[CallerTurn, str]:
    if not SENTENCES.is_dir():
        pytest.fail(f"{SENTENCES} is missing: the model tests need ../shared/audio/sentences")
    name = "spk2_snt2.wav"
    text = json.loads((SENTENCES / "transcripts.json").read_text())[name]
    samples, rate = decode_wav((SENTENCES / name).read_bytes())
    return CallerTurn(samples, rate, barge_in_at_ms=TALK_OVER_AT_MS), text


def _call(
    models: LocalModels, mode: str, *turns: CallerTurn, max_pause_ms: int = 1000
) -> CallResult:
    caller = SimulatedCaller(list(turns), phone=True)
    return run_virtual(run_call(_agent(mode, max_pause_ms), models, caller))


def _backchannel(name: str) -> CallerTurn:
    samples, rate = decode_wav((DATA / name).read_bytes())
    assert len(samples) / rate > 1.0  # well over barge_in.min_speech_ms
    return CallerTurn(samples, rate, barge_in_at_ms=TALK_OVER_AT_MS)


@pytest.mark.parametrize(
    "clip", ["backchannel-uh-huh-right.wav", "backchannel-mm-hmm-okay-right.wav"]
)
def test_a_backchannel_over_the_agent_pauses_it_and_it_goes_on(
    models: LocalModels, clip: str
) -> None:
    result = _call(models, "soft", _backchannel(clip))
    greeting = next(t for t in result.turns if t.role == "agent")
    assert greeting.text == GREETING and not greeting.interrupted, result.turns
    assert [t for t in result.turns if t.role == "user"] == []  # not a turn to answer
    assert result.soft_barge_ins == 1 and result.resumed_after_backchannel == 1


def test_hard_barge_in_cuts_the_agent_on_the_same_backchannel(models: LocalModels) -> None:
    result = _call(models, "hard", _backchannel("backchannel-uh-huh-right.wav"))
    greeting = next(t for t in result.turns if t.role == "agent")
    assert greeting.interrupted and GREETING.startswith(greeting.text), result.turns


def test_real_words_over_the_agent_cut_it_and_are_answered(models: LocalModels) -> None:
    turn, said = _sentence()
    # The agent stays paused until the words are known, however slow Whisper is on a
    # shared machine (by default it would go on after 1 s), so what was heard ends at the
    # pause.
    result = _call(models, "soft", turn, max_pause_ms=0)
    agent = [t for t in result.turns if t.role == "agent"]
    user = [t for t in result.turns if t.role == "user"]
    assert agent[0].interrupted and agent[0].text and GREETING.startswith(agent[0].text)
    # Cut to what played before the pause, about min_speech_ms into the caller's words.
    assert agent[0].end_ms <= user[0].start_ms + 500 + 200, result.turns
    assert len(user) == 1 and _words(user[0].text) == _words(said), user
    assert agent[-1].text == "Noted. Goodbye."
    assert result.soft_barge_ins == 1 and result.resumed_after_backchannel == 0


def _words(text: str) -> list[str]:
    return [w.strip(".,!?").lower() for w in text.split()]
