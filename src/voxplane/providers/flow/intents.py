"""Intent matching that survives speech-to-text spelling mistakes.

Keywords match one word at a time with a fuzzy ratio ("apointment" still matches
"appointment"); multi-word keywords match as a phrase. Phrases score by how many of their
content words the caller said. A negation just before the matching words ("I don't want to
book") halves the score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz

from voxplane.agents.flow import Intent
from voxplane.providers.flow.text import tokens, wordset

FUZZY_MIN = 80.0
"""Per-word similarity (0-100) under which two words do not match at all."""
FUZZY_MIN_LEN = 4
"""Words shorter than this match exactly only ("by" is not "bye")."""
NEGATIONS = frozenset({"not", "never", "without", "dont"})
"""Words that weaken a match that follows them ("no" is not one: "no, that's all, bye")."""
NEGATION_WINDOW = 3
STOPWORDS = wordset(
    "a an the to i me my we you your is am are be do does did can could would will "
    "like want please just and or of for in on at it this that with some so um uh"
)


@dataclass(frozen=True, slots=True)
class IntentMatch:
    """The best intent for an utterance, with its score (0-100)."""

    name: str
    score: float


class IntentMatcher:
    """Scores an utterance against named intents."""

    def __init__(self, intents: Mapping[str, Intent], threshold: float = 80.0) -> None:
        self._threshold = threshold
        self._intents = {
            name: (
                [tokens(p) for p in intent.phrases],
                [tokens(k) for k in intent.keywords],
            )
            for name, intent in intents.items()
        }

    def scores(self, text: str) -> dict[str, float]:
        """Score of every intent for ``text`` (0-100)."""
        return {name: score for name, (score, _) in self._scored(text).items()}

    def match(self, text: str, among: Sequence[str] | None = None) -> IntentMatch | None:
        """The best intent (optionally only ``among`` these) at or over the threshold.

        Equal scores go to the intent whose match covered more of the caller's words, so
        "move my appointment" is a reschedule rather than a booking ("appointment").
        """
        scored = self._scored(text)
        names = [n for n in scored if among is None or n in among]
        eligible = [n for n in names if scored[n][0] >= self._threshold]
        if not eligible:
            return None
        best = max(eligible, key=lambda n: scored[n])  # first of equals wins
        return IntentMatch(best, scored[best][0])

    def _scored(self, text: str) -> dict[str, tuple[float, int]]:
        """Per intent: (score, number of caller words the best match covered)."""
        words = tokens(text)
        result: dict[str, tuple[float, int]] = {}
        for name, (phrases, keywords) in self._intents.items():
            candidates = [(0.0, 0)]
            candidates += [_keyword_score(k, words) for k in keywords if k]
            candidates += [_phrase_score(p, words) for p in phrases if p]
            result[name] = max(candidates)
        return result


def word_similarity(a: str, b: str) -> float:
    """0-100; exact for short words, else a fuzzy ratio (0 under :data:`FUZZY_MIN`).

    Fuzzy matches must share the first letter: STT misspells the middle of a word
    ("cleening") far more often than its first sound, and "meaning" is not "cleaning".
    """
    if a == b:
        return 100.0
    if min(len(a), len(b)) < FUZZY_MIN_LEN or a[0] != b[0]:
        return 0.0
    score = float(fuzz.ratio(a, b))
    return score if score >= FUZZY_MIN else 0.0


def _negated(words: list[str], index: int) -> bool:
    for i in range(max(0, index - NEGATION_WINDOW), index):
        idiom = words[i] == "never" and words[i + 1 : i + 2] == ["mind"]  # not a negation
        if words[i] in NEGATIONS and not idiom:
            return True
    return False


def _keyword_score(keyword: list[str], words: list[str]) -> tuple[float, int]:
    """Best alignment of the keyword's words at consecutive positions of ``words``."""
    n = len(keyword)
    best = 0.0
    for start in range(len(words) - n + 1):
        sims = [
            word_similarity(k, w) for k, w in zip(keyword, words[start : start + n], strict=True)
        ]
        if min(sims) == 0.0:
            continue
        score = sum(sims) / n
        if _negated(words, start):
            score /= 2
        best = max(best, score)
    return best, n if best else 0


def _phrase_score(phrase: list[str], words: list[str]) -> tuple[float, int]:
    """Mean best similarity of the phrase's content words to the caller's words."""
    content = [p for p in phrase if p not in STOPWORDS] or phrase
    total = 0.0
    hits = 0
    first_hit: int | None = None
    for p in content:
        sims = [word_similarity(p, w) for w in words]
        best = max(sims, default=0.0)
        total += best
        if best > 0:
            hits += 1
            hit = sims.index(best)
            first_hit = hit if first_hit is None else min(first_hit, hit)
    score = total / len(content)
    if first_hit is not None and _negated(words, first_hit):
        score /= 2
    return score, hits
