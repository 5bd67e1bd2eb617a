from __future__ import annotations

import pytest

from voxplane.agents.flow import FlowConfig, Intent
from voxplane.providers.flow.intents import IntentMatcher, word_similarity


@pytest.fixture
def matcher(acme: FlowConfig) -> IntentMatcher:
    return IntentMatcher(acme.intents)


@pytest.mark.parametrize(
    ("said", "intent"),
    [
        ("I'd like to book an appointment.", "book"),
        ("Can I make an apointment?", "book"),  # misspelt by STT
        ("I need a cleening.", "book"),
        ("Schedule a checkup please", "book"),
        ("Can I speak to someone?", "human"),
        ("Real person please.", "human"),
        ("Operator!", "human"),
        ("I need to reschedule.", "reschedule"),
        ("I want to move my appointment", "reschedule"),
        ("Okay, bye.", "goodbye"),
        ("No, that's all, thanks.", "goodbye"),
        ("Bye-bye!", "goodbye"),
    ],
)
def test_matches(matcher: IntentMatcher, said: str, intent: str) -> None:
    match = matcher.match(said)
    assert match is not None
    assert match.name == intent


@pytest.mark.parametrize(
    "said", ["What's the weather like?", "Hmm.", "", "To.", "A", "I'm just passing by."]
)
def test_no_match_for_unrelated(matcher: IntentMatcher, said: str) -> None:
    assert matcher.match(said) is None


def test_negation_weakens_match(matcher: IntentMatcher) -> None:
    assert matcher.scores("I want to book")["book"] == 100
    assert matcher.scores("I don't want to book")["book"] < 80
    assert matcher.match("I don't want to book") is None


def test_match_can_be_restricted(matcher: IntentMatcher) -> None:
    match = matcher.match("book with someone", among=["human"])
    assert match is not None
    assert match.name == "human"
    assert matcher.match("book an appointment", among=["goodbye"]) is None


def test_phrase_needs_most_of_its_words() -> None:
    m = IntentMatcher({"human": Intent(phrases=("talk to a person",))})
    assert m.scores("a person")["human"] == 50
    assert m.scores("could I talk to a real person")["human"] == 100


def test_short_words_match_exactly_only() -> None:
    assert word_similarity("bye", "by") == 0
    assert word_similarity("appointment", "apointment") > 90
    assert word_similarity("cleaning", "meaning") == 0
