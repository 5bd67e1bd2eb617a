"""Whatever the transcript, the engine answers and never raises."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voxplane.agents.flow import FlowConfig
from voxplane.providers.flow.dates import extract_date, extract_time
from voxplane.providers.flow.engine import FlowEngine
from voxplane.providers.flow.slots import extract_digits, extract_name, extract_yes_no
from voxplane.providers.flow.text import wordset

WORDS = st.sampled_from(
    sorted(
        wordset(
            "yes no oh for to two twenty thirty hundred double half past quarter noon am pm "
            "monday next march the 3rd 15th 2:30 book person bye my name is it's not don't "
            "hours insurance , . ? - ' 4271 0 12:99 99:00 of at"
        )
    )
)
UTTERANCE = st.one_of(st.text(max_size=40), st.lists(WORDS, max_size=12).map(" ".join))


@given(text=UTTERANCE)
def test_extractors_never_raise(text: str) -> None:
    extract_digits(text, 4, 4)
    extract_yes_no(text)
    extract_name(text)
    extract_name(text, ("Dr. Smith", "Dr. Patel"))
    extract_date(text)
    extract_time(text)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(turns=st.lists(UTTERANCE, min_size=1, max_size=8))
def test_engine_always_replies(acme: FlowConfig, turns: list[str]) -> None:
    engine = FlowEngine(acme)
    engine.start()
    for text in turns:
        reply = engine.handle(text)
        assert engine.ended or reply.text
        assert engine.node in acme.nodes
