"""The text estimate of the end of an utterance: incomplete only when the words say so."""

from __future__ import annotations

import pytest

from voxplane.providers.turn_end import text_turn_complete


@pytest.mark.parametrize(
    "text",
    [
        "I'd like to",
        "I'm calling about",
        "Can I book it for",
        "My number is...",
        "We want the,",
        "and then",
        "Um",
        "So",
        "I need a cleaning and",
        "It's four two -",
        "Drop the two when",
        "Let me see",
        "It's, you know",
        "three point",
        "My name is",
        "Yes, it's",
        "Sunday is",
        "The pencils have all been",
        "It was very",
    ],
)
def test_unfinished_words_are_incomplete(text: str) -> None:
    assert not text_turn_complete(text)


@pytest.mark.parametrize(
    "text",
    [
        "I'd like to book a cleaning.",
        "I think so.",
        "Yes.",
        "What time do you open?",
        "Two hundred.",
        "Yes, it is.",
        "I think we have.",
        "Where have you been?",
        "What joy there is.",
        "The child almost hurt the small dog.",
        "",
    ],
)
def test_finished_words_are_complete(text: str) -> None:
    assert text_turn_complete(text)
