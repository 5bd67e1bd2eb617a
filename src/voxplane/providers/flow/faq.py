"""FAQ retrieval: Okapi BM25 over each entry's question, keywords and answer.

Fields are weighted (keywords count double, answer words half), words are lightly stemmed,
and a caller word missing from the vocabulary is replaced by its closest fuzzy match, so
"insurence" still finds the insurance answer. A minimum score keeps chit-chat unanswered.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from voxplane.agents.flow import FaqEntry
from voxplane.providers.flow.intents import STOPWORDS, word_similarity
from voxplane.providers.flow.text import tokens, wordset

K1 = 1.2
B = 0.75
QUESTION_WEIGHT = 1.0
KEYWORD_WEIGHT = 2.0
ANSWER_WEIGHT = 0.5
_EXTRA_STOPWORDS = wordset(
    "what how when where why who which there their they our us he she his her was were "
    "been get got tell know please hi hello hey thanks thank ok okay yes no"
)


def stem(word: str) -> str:
    """A light suffix stripper: hours→hour, opening→open, closed/close→clos."""
    for suffix in ("ing", "ies", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            word = word[: -len(suffix)] + ("y" if suffix == "ies" else "")
            break
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


def terms(text: str) -> list[str]:
    """Stemmed content words of ``text``."""
    return [
        stem(w)
        for w in tokens(text)
        if w not in STOPWORDS and w not in _EXTRA_STOPWORDS and not w.isdecimal()
    ]


@dataclass(frozen=True, slots=True)
class FaqHit:
    """The answer found for a question, with its BM25 score."""

    index: int
    answer: str
    score: float


class FaqIndex:
    """BM25 index over FAQ entries; :meth:`search` returns the best entry over a threshold."""

    def __init__(self, entries: Sequence[FaqEntry], min_score: float = 1.2) -> None:
        self._entries = tuple(entries)
        self._min_score = min_score
        self._docs: list[dict[str, float]] = []  # weighted term frequencies
        for e in self._entries:
            doc: dict[str, float] = {}
            for weight, text in (
                (QUESTION_WEIGHT, e.question),
                (KEYWORD_WEIGHT, " ".join(e.keywords)),
                (ANSWER_WEIGHT, e.answer),
            ):
                for t in terms(text):
                    doc[t] = doc.get(t, 0.0) + weight
            self._docs.append(doc)
        self._lengths = [sum(d.values()) for d in self._docs]
        self._avg_length = (sum(self._lengths) / len(self._docs)) if self._docs else 0.0
        df: Counter[str] = Counter(t for d in self._docs for t in d)
        n = len(self._docs)
        self._idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}

    def scores(self, text: str) -> list[float]:
        """BM25 score of every entry for ``text``."""
        query = [self._in_vocabulary(t) for t in terms(text)]
        result: list[float] = []
        for doc, length in zip(self._docs, self._lengths, strict=True):
            norm = K1 * (1 - B + B * length / self._avg_length) if self._avg_length else K1
            score = 0.0
            for t in query:
                tf = doc.get(t, 0.0)
                if tf:
                    score += self._idf[t] * tf * (K1 + 1) / (tf + norm)
            result.append(score)
        return result

    def search(self, text: str) -> FaqHit | None:
        """The best-matching entry, or None when nothing scores ``min_score`` or more."""
        if not self._entries:
            return None
        scores = self.scores(text)
        best = max(range(len(scores)), key=scores.__getitem__)
        if scores[best] < self._min_score:
            return None
        return FaqHit(best, self._entries[best].answer, scores[best])

    def _in_vocabulary(self, term: str) -> str:
        if term in self._idf:
            return term
        scored = [(word_similarity(term, v), v) for v in self._idf]
        score, closest = max(scored, default=(0.0, term))
        return closest if score > 0 else term
