"""Small text checks the turn-taking logic needs."""

from __future__ import annotations

import re
from collections.abc import Iterable

_WORD = re.compile(r"[\w']+")  # digits and accents are words: "okay, 2" is an answer


def words(text: str) -> list[str]:
    """Lowercase words, punctuation and hyphens dropped ("Mm-hmm." → ["mm", "hmm"])."""
    return _WORD.findall(text.lower().replace("-", " "))


def is_backchannel(text: str, backchannels: Iterable[str]) -> bool:
    """True when ``text`` is only acknowledgement ("mhm", "okay okay", "yeah, right")."""
    said = words(text)
    if not said or len(said) > 4:
        return False
    phrases = sorted((words(b) for b in backchannels), key=len, reverse=True)
    i = 0
    while i < len(said):
        for phrase in phrases:
            if phrase and said[i : i + len(phrase)] == phrase:
                i += len(phrase)
                break
        else:
            return False
    return True
