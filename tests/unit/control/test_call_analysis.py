"""Post-call analysis of a flow agent: its gathered slots, typed as the agent's schema
says, and success when every required field was gathered."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from voxplane.agents.llm import LlmBrainConfig
from voxplane.agents.schema import AnalysisConfig
from voxplane.errors import ProviderError
from voxplane.pipeline.records import TurnRecord
from voxplane.providers.llm.brain import LlmBrain
from voxplane.providers.llm.tools import ToolRunner
from voxplane.runtime import analysis
from voxplane.runtime.analysis import analyse, analyse_call, typed
from voxplane.testing.scripted_llm import ScriptedLLM, Step, words

CONFIG = AnalysisConfig.model_validate(
    {
        "fields": {
            "type": "object",
            "properties": {
                "patient": {"type": "string"},
                "member_id": {"type": "integer"},
                "new_patient": {"type": "boolean"},
                "amount": {"type": "number"},
            },
            "required": ["patient", "member_id"],
        }
    }
)


def test_no_analysis_section_means_no_analysis() -> None:
    assert analyse(None, {"patient": "Ann"}) is None


def test_gathered_slots_become_typed_fields_and_success_needs_the_required_ones() -> None:
    gathered = {"patient": "Ann Lee", "member_id": "4 0 7 1", "new_patient": "yes", "x": "1"}
    result = analyse(CONFIG, gathered)
    assert result is not None
    assert result.fields == {"patient": "Ann Lee", "member_id": 4071, "new_patient": True}
    assert result.success is True and result.outcome == "success"
    missing = analyse(CONFIG, {"patient": "Ann Lee", "member_id": "four"})
    assert missing is not None and missing.fields == {"patient": "Ann Lee"}
    assert missing.success is False and missing.outcome == "failure"


def test_without_required_fields_success_is_not_judged() -> None:
    config = AnalysisConfig.model_validate(
        {"fields": {"properties": {"city": {}}}, "summary": True}
    )
    result = analyse(config, {"city": "Lyon"})
    assert result is not None and result.success is None and result.outcome == "unknown"
    assert result.summary is None  # a flow agent has no model to write one


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("12,5", "number", 125.0),
        ("nan", "number", None),
        ("inf", "number", None),
        ("1e400", "number", None),
        ("-3", "integer", -3),
        ("3.5", "integer", None),
        ("nope", "boolean", False),
        ("maybe", "boolean", None),
        ("   ", "string", None),
    ],
)
def test_slot_text_is_typed_or_left_out(text: str, kind: str, value: object) -> None:
    assert typed(text, kind) == value  # type: ignore[arg-type]


def test_required_must_name_properties() -> None:
    with pytest.raises(ValidationError, match="required names no property: age"):
        AnalysisConfig.model_validate({"fields": {"properties": {"city": {}}, "required": ["age"]}})


# --- an LLM agent: its own model analyses the transcript (a scripted fake of the model) ---

LLM_CONFIG = LlmBrainConfig.model_validate(
    {"type": "llm", "provider": "openai", "model": "m", "api_key": "k", "prompt": "Be brief."}
)
ASKED = AnalysisConfig.model_validate(
    {
        "fields": {
            "properties": {"member_id": {"type": "integer"}, "city": {}},
            "required": ["member_id"],
        },
        "success_criteria": "The caller booked a cleaning.",
        "summary": True,
    }
)
TURNS = [
    TurnRecord("agent", "Hello, Acme Dental.", 0, 900),
    TurnRecord("user", "I'd like a cleaning, member 4071.", 1500, 3000),
    TurnRecord("agent", "Booked for Tuesday.", 3400, 4500),
]


def llm_brain(*replies: list[Step]) -> tuple[LlmBrain, ScriptedLLM]:
    llm = ScriptedLLM(list(replies))
    return LlmBrain(LLM_CONFIG, llm, ToolRunner((), {}, allow_private=True)), llm


def test_an_llm_agents_model_writes_the_summary_judges_success_and_fills_fields() -> None:
    answer = (
        'Here it is: {"summary": "Booked a cleaning for Tuesday.", "success": true, '
        '"fields": {"member_id": "4071", "city": 12, "extra": "x"}}'
    )
    brain, llm = llm_brain(words(answer))
    result = asyncio.run(analyse_call(ASKED, brain, TURNS))
    assert result is not None
    assert result.fields == {"member_id": 4071, "city": "12"}  # typed; unknown keys dropped
    assert result.success is True and result.summary == "Booked a cleaning for Tuesday."
    (request,) = llm.requests
    assert request.tools == [] and request.options.temperature == 0.0
    system, transcript = request.messages
    assert "The caller booked a cleaning." in system.content and '"member_id"' in system.content
    assert transcript.content.splitlines() == [
        "Agent: Hello, Acme Dental.",
        "Caller: I'd like a cleaning, member 4071.",
        "Agent: Booked for Tuesday.",
    ]


@pytest.mark.parametrize(
    "reply",
    [
        [ProviderError("model down", retryable=True)],
        words("I cannot help with that."),
        words('{"summary": ["not", "text"], "success": "yes", "fields": [1]}'),
    ],
)
def test_a_failing_or_rambling_model_costs_only_its_part(reply: list[Step]) -> None:
    brain, _ = llm_brain(reply)
    result = asyncio.run(analyse_call(ASKED, brain, TURNS))
    assert result is not None  # the record still gets an analysis, without the model's part
    assert result.fields == {} and result.summary is None and result.success is False


def test_a_model_that_never_answers_is_cut_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(analysis, "ANALYSIS_TIMEOUT_S", 0.05)
    brain, _ = llm_brain([5.0, *words("{}")])
    result = asyncio.run(analyse_call(ASKED, brain, TURNS))
    assert result is not None and result.summary is None


def test_no_analysis_section_asks_the_model_nothing() -> None:
    brain, llm = llm_brain(words("{}"))
    assert asyncio.run(analyse_call(None, brain, TURNS)) is None
    assert llm.requests == []
