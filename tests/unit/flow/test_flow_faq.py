from __future__ import annotations

import pytest

from voxplane.agents.flow import FaqEntry, FlowConfig
from voxplane.providers.flow.faq import FaqIndex, stem


@pytest.fixture
def index(acme: FlowConfig) -> FaqIndex:
    return FaqIndex(acme.faq, acme.faq_min_score)


@pytest.mark.parametrize(
    ("said", "answer_start"),
    [
        ("What are your opening hours?", "We're open Monday"),
        ("When do you close?", "We're open Monday"),
        ("Are you open on Saturday?", "We're open Monday"),
        ("What time do you open tomorrow", "We're open Monday"),
        ("Where are you located?", "We're at 120 Main"),
        ("What's the address?", "We're at 120 Main"),
        ("Is there parking?", "We're at 120 Main"),
        ("Do you take my insurance?", "We accept most"),
        ("Do you accept Delta Dental?", "We accept most"),
        ("do you take insurence", "We accept most"),  # misspelt by STT
        ("How much is a cleaning?", "A cleaning is 95"),
        ("Are you taking new patients?", "Yes, we're happy"),
    ],
)
def test_finds_answer(index: FaqIndex, said: str, answer_start: str) -> None:
    hit = index.search(said)
    assert hit is not None
    assert hit.answer.startswith(answer_start)


@pytest.mark.parametrize(
    "said",
    ["How are you today?", "Hello?", "Okay.", "What's the weather like?", "I like turtles", ""],
)
def test_chit_chat_gets_no_answer(index: FaqIndex, said: str) -> None:
    assert index.search(said) is None


def test_threshold_is_a_knob() -> None:
    entries = [FaqEntry(question="What are your hours?", answer="Nine to five.")]
    said = "hours"
    assert FaqIndex(entries, min_score=0.1).search(said) is not None
    assert FaqIndex(entries, min_score=50.0).search(said) is None


def test_empty_index() -> None:
    assert FaqIndex([]).search("What are your hours?") is None


def test_keywords_outweigh_answer_words() -> None:
    entries = [
        FaqEntry(question="Parking?", answer="Street parking on Main.", keywords=("car",)),
        FaqEntry(question="Address?", answer="120 Main Street.", keywords=("main", "street")),
    ]
    hit = FaqIndex(entries, min_score=0.0).search("main street")
    assert hit is not None
    assert hit.index == 1


@pytest.mark.parametrize(
    ("word", "stemmed"),
    [("hours", "hour"), ("opening", "open"), ("close", "clos"), ("closed", "clos")],
)
def test_stem(word: str, stemmed: str) -> None:
    assert stem(word) == stemmed
