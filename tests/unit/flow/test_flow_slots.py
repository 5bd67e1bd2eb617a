from __future__ import annotations

import pytest

from voxplane.agents.flow import Gather
from voxplane.providers.flow.slots import (
    extract,
    extract_digits,
    extract_free_text,
    extract_name,
    extract_yes_no,
    has_name_prefix,
)


@pytest.mark.parametrize(
    "said",
    [
        "My number is 4 2 7 1.",
        "4271",
        "4, 2, 7, 1.",
        "Four, two, seven, one.",
        "four two seven one",
        "Forty two seventy one.",
        "It's 42-71.",
        "Uh, for two seven won.",  # Whisper homophones for 4 and 1
        "For to seven one",
        "I have 2 kids, and my patient number is 4271.",
        "4 2 7 1, I think.",
    ],
)
def test_digits_whisper_style(said: str) -> None:
    assert extract_digits(said, 4, 4) == "4271"


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("Oh, four oh seven one.", "4071"),
        ("Double five, one, two.", "5512"),
        ("eight ate zero zero", "8800"),
        ("Zero, nine, one, one.", "0911"),
    ],
)
def test_digits_zeros_and_repeats(said: str, expected: str) -> None:
    assert extract_digits(said, 4, 4) == expected


@pytest.mark.parametrize(
    "said", ["I don't know.", "", "Can you repeat that?", "4 2 7", "4 2 7 1 9", "for me"]
)
def test_digits_rejects_wrong_or_missing(said: str) -> None:
    assert extract_digits(said, 4, 4) is None


def test_digits_without_limits_takes_everything() -> None:
    assert extract_digits("It's 555-0100.") == "5550100"


@pytest.mark.parametrize(
    "said",
    [
        "Yes.",
        "Yeah.",
        "Yep!",
        "Yeah, that's right.",
        "Sure.",
        "Correct.",
        "That's correct.",
        "Absolutely.",
        "Please do.",
        "Uh-huh.",
        "Okay, go ahead.",
        "No problem, book it.",
        "Sure, why not.",
        "I am.",
        "Yes please",
        "I think so.",
    ],
)
def test_yes(said: str) -> None:
    assert extract_yes_no(said) == "yes"


@pytest.mark.parametrize(
    "said",
    [
        "No.",
        "Nope.",
        "Nah.",
        "No, that's not right.",
        "That's wrong.",
        "Not really.",
        "Yes, no, that's not right.",  # negation beats affirmation
        "I'm not.",
        "Absolutely not!",
        "No thanks.",
        "I don't think so.",
    ],
)
def test_no(said: str) -> None:
    assert extract_yes_no(said) == "no"


@pytest.mark.parametrize("said", ["Hmm.", "I'm not sure.", "Maybe.", "What?", "", "Tuesday"])
def test_yes_no_unclear(said: str) -> None:
    assert extract_yes_no(said) is None


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("My name is John Smith.", "John Smith"),
        ("It's Sarah.", "Sarah"),
        ("Sarah Johnson.", "Sarah Johnson"),
        ("sarah johnson", "Sarah Johnson"),
        ("This is Mary-Jane O'Brien calling.", "Mary-Jane O'Brien"),
        ("Uh, yeah, it's Bob, thanks.", "Bob"),
        ("I'm Priya Patel.", "Priya Patel"),
        ("Put it under Garcia, please.", "Garcia"),
        ("My name is Jose Maria de la Cruz Fernandez", "Jose Maria De La"),
    ],
)
def test_name(said: str, expected: str) -> None:
    assert extract_name(said) == expected


@pytest.mark.parametrize(
    "said",
    [
        "What are your hours?",
        "I want to talk to a person.",
        "Yes.",
        "",
        "I would like to book an appointment for a cleaning next week please",
        "4271",
    ],
)
def test_name_rejects_non_names(said: str) -> None:
    assert extract_name(said) is None


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("Doctor Smyth, please.", "Dr. Smith"),  # misheard, title spelled out
        ("With Patel.", "Dr. Patel"),
        ("dr nguyen", "Dr. Nguyen"),
        ("Smith", "Dr. Smith"),
    ],
)
def test_name_from_choices(said: str, expected: str) -> None:
    assert extract_name(said, ("Dr. Smith", "Dr. Patel", "Dr. Nguyen")) == expected


def test_name_from_choices_rejects_others() -> None:
    assert extract_name("Whoever is free.", ("Dr. Smith", "Dr. Patel")) is None


def test_name_prefix_detection() -> None:
    assert has_name_prefix("My name is Tom")
    assert not has_name_prefix("Can I talk to a person")


def test_free_text() -> None:
    assert extract_free_text("  My tooth hurts.  ") == "My tooth hurts."
    assert extract_free_text(" ... ") is None


def test_extract_dispatches_on_gather_type() -> None:
    digits = Gather(slot="pin", type="digits", min_length=4, max_length=4)
    assert extract(digits, "four two seven one") == "4271"
    assert extract(Gather(slot="ok", type="yes_no"), "yep") == "yes"
    assert extract(Gather(slot="d", type="date"), "next monday") == "next Monday"
    assert extract(Gather(slot="t", type="time"), "noon") == "12:00 PM"


@pytest.mark.parametrize("said", ["next Tuesday, please", "Next Tuesday.", "Tomorrow at nine."])
def test_a_day_or_time_is_not_taken_for_a_name(said: str) -> None:
    assert extract_name(said) is None


def test_a_name_that_is_also_a_month_is_kept_when_introduced() -> None:
    assert extract_name("My name is April Jones.") == "April Jones"
