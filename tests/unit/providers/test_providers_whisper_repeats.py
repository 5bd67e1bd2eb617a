"""The short window's guard: a decoder that starts the utterance over is cut there."""

from __future__ import annotations

import pytest

from voxplane.providers.whisper import cut_repeats, loops


@pytest.mark.parametrize(
    ("decoded", "kept"),
    [
        ("Three, two, two. Three, two, two.", "Three, two, two."),
        ("Nine, three, zero. Nine, three, zero. Nine", "Nine, three, zero."),
        (
            "The child almost hurt the small dog. The child",
            "The child almost hurt the small dog. The child",
        ),
        (
            "Sunday is the best part of the week. sunday is the best part of the week!",
            "Sunday is the best part of the week.",
        ),
        ("Yes. No. Yes.", "Yes. No."),
        ("Three, three, three.", "Three, three, three."),
        ("Hello? Is that you? Okay.", "Hello? Is that you? Okay."),
        ("", ""),
    ],
)
def test_repeated_sentence_ends_the_transcript(decoded: str, kept: str) -> None:
    assert cut_repeats(decoded) == kept


@pytest.mark.parametrize(
    ("text", "looping"),
    [
        ("Six, eight, two, six, eight, two, six, six, six, six", True),
        ("Eight, three, three, three, three", True),
        ("Four, seven, four, seven.", True),  # said so, or a loop: decoded again to know
        ("Three, three, three.", False),
        ("Eight, five, one, seven.", False),
        ("The child almost hurt the small dog.", False),
        ("", False),
    ],
)
def test_loops_are_found(text: str, looping: bool) -> None:
    assert loops(text) is looping
