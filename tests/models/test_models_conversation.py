"""A whole acme-dental call on the real local stack, from synthesized caller speech.

The call runs on the virtual clock: idle waiting is skipped, model inference takes its
real time, so a one-minute call costs only the seconds its models need.
"""

from __future__ import annotations

from pathlib import Path

from voxplane.agents.loader import load_agent_file
from voxplane.media.wav import decode_wav
from voxplane.pipeline.records import CallResult
from voxplane.runtime.factory import LocalModels
from voxplane.runtime.local import run_call
from voxplane.testing.clock import run_virtual
from voxplane.transports.simulated import CallerTurn, SimulatedCaller

REPO_ROOT = Path(__file__).resolve().parents[2]
AGENT = REPO_ROOT / "examples" / "agents" / "acme-dental.yaml"
CALLER = sorted((REPO_ROOT / "examples" / "audio").glob("acme-caller-*.wav"))


def _call(models: LocalModels, phone: bool) -> CallResult:
    agent = load_agent_file(AGENT)
    turns = [CallerTurn(*decode_wav(path.read_bytes())) for path in CALLER]
    return run_virtual(run_call(agent, models, SimulatedCaller(turns, phone=phone)))


def test_acme_dental_books_a_cleaning_over_the_phone(models: LocalModels) -> None:
    assert len(CALLER) == 9
    result = _call(models, phone=True)
    said = [t.text for t in result.turns if t.role == "agent" and not t.interrupted]
    assert any("8 am to 5 pm" in text for text in said), said  # the hours FAQ
    assert any(text.startswith("You're all set, Maria Lopez.") for text in said), said
    assert any("Tuesday at 10:30" in text for text in said), said
    assert said[-1] == "Thanks for calling Acme Dental. Goodbye!"
    assert result.ended_by == "agent_hangup"
    # Every caller turn that was answered has its latency measured on the wire.
    assert result.metrics and all(m.voice_to_voice_ms is not None for m in result.metrics)
    user_text = " ".join(t.text for t in result.turns if t.role == "user").lower()
    assert "maria" in user_text and "tuesday" in user_text
