"""PlayoutTracker: milliseconds played out → the text the caller heard."""

from __future__ import annotations

import pytest

from voxplane.pipeline.playout import PlayoutTracker


def tracker() -> PlayoutTracker:
    """Two sentences: 4 words in 1200 ms (two chunks), then 3 words in 900 ms."""
    t = PlayoutTracker()
    t.add_sentence("Your cleaning is booked.")
    t.add_audio(500.0)
    t.add_audio(700.0)
    t.add_sentence("See you Tuesday.")
    t.add_audio(900.0)
    return t


@pytest.mark.parametrize(
    ("played_ms", "heard"),
    [
        (0.0, ""),
        (299.0, ""),  # never claims a word not fully played
        (300.0, "Your"),
        (899.0, "Your cleaning"),
        (1200.0, "Your cleaning is booked."),  # exact sentence boundary
        (1499.0, "Your cleaning is booked."),
        (1500.0, "Your cleaning is booked. See"),
        (2100.0, "Your cleaning is booked. See you Tuesday."),
        (99_999.0, "Your cleaning is booked. See you Tuesday."),  # beyond the end
    ],
)
def test_heard(played_ms: float, heard: str) -> None:
    assert tracker().heard(played_ms) == heard


def test_totals() -> None:
    t = tracker()
    assert t.total_ms == 2100.0
    assert t.full_text == "Your cleaning is booked. See you Tuesday."


def test_sentence_without_audio_yet_is_not_heard() -> None:
    t = tracker()
    t.add_sentence("Goodbye now.")
    assert t.heard(5000.0) == "Your cleaning is booked. See you Tuesday."
