from __future__ import annotations

import pytest

from voxplane.providers.flow.text import normalize, tokens, words_to_numbers


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Hello, World!", "hello world"),
        ("I don't want to book.", "i do not want to book"),
        ("It's 2:30 p.m.", "it is 2:30 pm"),
        ("2.30 P.M.", "2:30 pm"),
        ("I can't — really", "i can not really"),
        ("That\u2019s all", "that is all"),
        ("My number is 4,271.", "my number is 4271"),
        ("twenty-three", "twenty three"),
        ("March 3rd", "march 3 rd"),
        ("  lots   of    space ", "lots of space"),
        ("...", ""),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    ("spoken", "expected"),
    [
        ("four two seven one", ["4", "2", "7", "1"]),
        ("twenty three", ["23"]),
        ("forty two seventy one", ["42", "71"]),
        ("double five", ["5", "5"]),
        ("triple seven", ["7", "7", "7"]),
        ("one hundred and five", ["105"]),
        ("two thousand", ["2000"]),
        ("four oh seven", ["4", "0", "7"]),
        ("nineteen eighty four", ["19", "84"]),
        ("ten thirty", ["10", "30"]),
        ("it is 4271", ["it", "is", "4271"]),
    ],
)
def test_words_to_numbers(spoken: str, expected: list[str]) -> None:
    assert words_to_numbers(tokens(spoken)) == expected


def test_oh_is_only_zero_next_to_numbers() -> None:
    assert words_to_numbers(tokens("oh I see")) == ["oh", "i", "see"]
    assert words_to_numbers(tokens("five oh five")) == ["5", "0", "5"]


def test_homophones_count_only_in_digits_context() -> None:
    said = tokens("for to won ate")
    assert words_to_numbers(said) == ["for", "to", "won", "ate"]
    assert words_to_numbers(said, digits_context=True) == ["4", "2", "1", "8"]


def test_homophones_away_from_numbers_stay_words() -> None:
    said = tokens("I want to book for Tuesday")
    assert words_to_numbers(said, digits_context=True) == said
