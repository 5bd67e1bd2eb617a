"""Real speech, real models: a number read with pauses is one turn, never talked over."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voxplane.agents.schema import AgentConfig
from voxplane.media.frame import Pcm16
from voxplane.media.wav import decode_wav
from voxplane.pipeline.records import CallResult
from voxplane.providers.flow.slots import extract_digits
from voxplane.runtime.local import LocalModels, run_call
from voxplane.testing.clock import run_virtual
from voxplane.transports.simulated import CallerTurn, SimulatedCaller

AGENT = AgentConfig.model_validate(
    {
        "name": "four-digits",
        "call": {"first_message": "Please read me your four-digit number."},
        "brain": {
            "type": "flow",
            "start": "number",
            "nodes": {
                "number": {
                    "gather": {
                        "slot": "number",
                        "type": "digits",
                        "min_length": 4,
                        "max_length": 4,
                        "retry": "Sorry, again?",
                    },
                    "next": "done",
                },
                "done": {"say": "Got {number}. Goodbye.", "action": {"type": "hangup"}},
            },
        },
    }
)


def _read_out(fsdd: Path, speaker: str, groups: list[str], pause_s: float) -> Pcm16:
    """``groups`` of digits said by ``speaker`` (take 0), 0.15 s apart inside a group and
    ``pause_s`` between groups, at 8 kHz."""
    parts: list[Pcm16] = []
    for g, group in enumerate(groups):
        for i, digit in enumerate(group):
            if g or i:
                gap = pause_s if i == 0 else 0.15
                parts.append(np.zeros(round(gap * 8000), np.int16))
            samples, rate = decode_wav((fsdd / f"{digit}_{speaker}_0.wav").read_bytes())
            assert rate == 8000
            parts.append(samples)
    return np.concatenate(parts)


@pytest.mark.parametrize(
    ("speaker", "groups"),
    [("theo", ["42", "71"]), ("nicolas", ["3", "8", "5", "0"])],
    ids=["two-groups", "digit-by-digit"],
)
def test_a_number_read_with_pauses_is_one_turn_never_talked_over(
    models: LocalModels, fsdd: Path, speaker: str, groups: list[str]
) -> None:
    audio = _read_out(fsdd, speaker, groups, pause_s=0.7)
    caller = SimulatedCaller([CallerTurn(audio, 8000)], phone=True)
    result: CallResult = run_virtual(run_call(AGENT, models, caller))

    user = [t for t in result.turns if t.role == "user"]
    assert len(user) == 1, result.turns
    assert extract_digits(user[0].text, 4, 4) == "".join(groups), user[0].text
    agent = [t for t in result.turns if t.role == "agent"]
    assert all(t.end_ms <= user[0].start_ms or t.start_ms >= user[0].end_ms for t in agent)
    assert not any(t.interrupted for t in agent)
    assert agent[-1].text == f"Got {''.join(groups)}. Goodbye."
    assert result.false_starts == 0 and result.held_turns >= 1
