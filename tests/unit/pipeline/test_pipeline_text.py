"""is_backchannel: acknowledgements that must not interrupt the agent."""

from __future__ import annotations

import pytest

from voxplane.agents.schema import TurnConfig
from voxplane.pipeline.text import is_backchannel, words

BACKCHANNELS = TurnConfig().backchannels


@pytest.mark.parametrize(
    "text",
    [
        "Mm-hmm.",
        "mhm",
        "Uh-huh",
        "Okay.",
        "OK, ok",
        "Yeah, right.",
        "I see.",
        "Got it!",
        "Mm, okay, right.",  # how Whisper writes a spoken "mm hmm, okay, right"
        "Uh, right.",  # and "uh huh, right"
        "Alright.",
    ],
)
def test_backchannels(text: str) -> None:
    assert is_backchannel(text, BACKCHANNELS)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "...",
        "Stop.",
        "Okay, but",
        "Okay, 2.",  # a number is an answer
        "Sure, José.",
        "okay okay okay okay okay",  # too long to be only acknowledgement
        "Hmm?",
        "Uh, wait.",
    ],
)
def test_not_backchannels(text: str) -> None:
    assert not is_backchannel(text, BACKCHANNELS)


def test_words_drop_punctuation_and_hyphens() -> None:
    assert words("Mm-hmm. It's 10, OK?") == ["mm", "hmm", "it's", "10", "ok"]
