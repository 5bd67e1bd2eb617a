"""What "complete" means for each thing a flow waits for."""

from __future__ import annotations

import pytest

from voxplane.agents.flow import FlowConfig
from voxplane.providers.flow.engine import FlowEngine
from voxplane.providers.flow.slots import digits_complete


def _engine(gather: dict[str, object]) -> FlowEngine:
    config = FlowConfig.model_validate(
        {
            "type": "flow",
            "start": "ask",
            "nodes": {
                "ask": {"gather": {"slot": "value", "prompt": "Go on?", **gather}, "next": "end"},
                "end": {"say": "Bye.", "action": {"type": "hangup"}},
            },
        }
    )
    engine = FlowEngine(config)
    engine.start()
    return engine


@pytest.mark.parametrize(
    ("text", "complete"),
    [
        ("Four two.", False),  # fewer than min_length
        ("42", False),
        ("Forty two", False),
        ("Four two seven one.", True),
        ("4271", True),
        ("What?", True),  # no digits, a question: answered
        ("Um,", False),
        ("My number is", False),
    ],
)
def test_fixed_length_digits(text: str, complete: bool) -> None:
    engine = _engine({"type": "digits", "min_length": 4, "max_length": 4})
    assert engine.turn_complete(text) is complete


def _number_question() -> FlowEngine:
    """A 4-digit question with a node intent, a global intent and an FAQ."""
    config = FlowConfig.model_validate(
        {
            "type": "flow",
            "start": "ask",
            "intents": {
                "skip": {"phrases": ["skip this step"]},
                "human": {"keywords": ["receptionist"]},
            },
            "global": [{"intent": "human", "to": "end"}],
            "faq_min_score": 0.5,
            "faq": [
                {"question": "Is there parking?", "answer": "Yes, behind the building."},
                {"question": "When are you open?", "answer": "Nine to five."},
                {"question": "Do you take insurance?", "answer": "Most plans."},
            ],
            "nodes": {
                "ask": {
                    "gather": {"slot": "n", "type": "digits", "min_length": 4, "max_length": 4},
                    "transitions": [{"intent": "skip", "to": "end"}],
                    "next": "end",
                },
                "end": {"say": "Bye.", "action": {"type": "hangup"}},
            },
        }
    )
    engine = FlowEngine(config)
    engine.start()
    return engine


@pytest.mark.parametrize(
    "text",
    [
        "Nice.",  # "nine", misheard
        "All right.",  # "eight", misheard, or the caller about to read the number
        "New.",
        "Okay, um",
        "Yeah, sure.",
        "Let me see.",
    ],
)
def test_a_short_reply_with_no_digits_is_the_number_starting(text: str) -> None:
    assert _number_question().turn_complete(text) is False


@pytest.mark.parametrize(
    "text",
    [
        "I don't have it.",
        "I don't know.",
        "No.",
        "Nope",
        "I'd rather not say.",
        "What?",
        "what",  # no question mark from the recogniser
        "Huh",
        "Sorry?",
        "Pardon",
        "Repeat that",
        "Can you repeat that?",
        "Say that again",
        "Now.",  # "No." as Whisper writes it under the digits prompt
        "Hello?",
        "Hello.",
        "Which number?",
        "Where do I find it?",
        "Skip this step",  # the node's intent
        "Receptionist",  # a global intent
        "Parking",  # the FAQ answers it
        "I left my wallet in the car, give me a second.",  # a sentence: the text estimate
        "",
    ],
)
def test_a_reply_the_node_answers_is_answered_at_once(text: str) -> None:
    assert _number_question().turn_complete(text) is True


def test_a_long_sentence_with_no_digits_is_judged_as_a_sentence() -> None:
    assert _number_question().turn_complete("Hold on, let me look for my card and") is False


def test_with_no_minimum_length_words_without_digits_are_judged_as_text() -> None:
    engine = _engine({"type": "digits", "max_length": 8})
    assert engine.turn_complete("Nice.") is True
    assert engine.turn_complete("Okay, um") is False


@pytest.mark.parametrize(
    ("text", "complete"),
    [
        ("Eight three three.", True),  # min_length reached, nothing more announced
        ("Eight three three and", False),
        ("Five five oh", False),  # "oh" may be a zero or lead into more
        ("Eight three three,", False),  # a pause after a group
        ("Eight three three one.", True),  # max_length: done whatever follows
        ("Eight three three one and", True),
    ],
)
def test_digits_between_min_and_max_length(text: str, complete: bool) -> None:
    assert digits_complete(text, 3, 4) is complete


def test_a_string_of_no_digits_is_left_to_other_rules() -> None:
    assert digits_complete("Can I talk to a person?", 4, 4) is None


@pytest.mark.parametrize(
    ("gather", "text", "complete"),
    [
        ({"type": "yes_no"}, "Yes.", True),
        ({"type": "yes_no"}, "Um, well", True),  # nothing clearly unfinished
        ({"type": "yes_no"}, "Um", False),
        ({"type": "name"}, "My name is Maria Lopez.", True),
        ({"type": "name"}, "It's", False),
        ({"type": "date"}, "Next Tuesday.", True),
        ({"type": "date"}, "Next Tuesday at", True),  # the extractor found the date
        ({"type": "date"}, "I'd like it on the", False),
        ({"type": "time"}, "Half past two.", True),
        ({"type": "free_text"}, "I want to", False),
        ({"type": "free_text"}, "I want to change my booking.", True),
    ],
)
def test_other_expectations(gather: dict[str, object], text: str, complete: bool) -> None:
    assert _engine(gather).turn_complete(text) is complete
