"""Digit accuracy of speech to text, scored the way the flow brain reads digits."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from _audio import Utterance, phone_line
from voxplane.media.frame import Pcm16
from voxplane.media.resample import resample
from voxplane.providers.flow.slots import extract_digits

PREROLL_S = 0.3
"""Leading silence, as the pipeline keeps (session.PREROLL_MS)."""
TAIL_S = 0.15
"""Trailing audio, as the pipeline keeps (session.TAIL_MS)."""


def levenshtein(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def heard_digits(text: str) -> str:
    """All digits in a transcript, as the flow brain parses them (no length limits)."""
    return extract_digits(text) or ""


@dataclass(slots=True)
class DigitScore:
    """Digit-level accuracy (1 - edits / digits) and the share of exact utterances."""

    edits: int = 0
    digits: int = 0
    exact: int = 0
    utterances: int = 0
    first_digit_errors: int = 0

    def add(self, truth: str, text: str) -> None:
        got = heard_digits(text)
        self.edits += levenshtein(truth, got)
        self.digits += len(truth)
        self.exact += got == truth
        self.utterances += 1
        self.first_digit_errors += got[:1] != truth[:1]

    @property
    def accuracy(self) -> float:
        return 1 - self.edits / self.digits if self.digits else float("nan")

    @property
    def exact_rate(self) -> float:
        return self.exact / self.utterances if self.utterances else float("nan")

    def document(self) -> dict[str, float | int]:
        return {
            "digit_accuracy": round(self.accuracy, 4),
            "exact_rate": round(self.exact_rate, 4),
            "utterances": self.utterances,
            "digits": self.digits,
            "first_digit_errors": self.first_digit_errors,
        }


def pipeline_input(utterance: Utterance, preroll_s: float = PREROLL_S) -> Pcm16:
    """The audio Whisper gets on the phone path: μ-law hop, 16 kHz, silence around it."""
    heard = phone_line(utterance.samples)
    wide = resample(heard, utterance.rate, 16_000, "QQ")
    before = np.zeros(round(preroll_s * 16_000), np.int16)
    after = np.zeros(round(TAIL_S * 16_000), np.int16)
    return np.concatenate([before, wide, after])


def score(
    transcribe: Callable[[Pcm16], str],
    utterances: Sequence[Utterance],
    preroll_s: float = PREROLL_S,
) -> tuple[DigitScore, float, list[tuple[str, str]]]:
    """Score ``transcribe`` over ``utterances``; also seconds per utterance and the misses."""
    result = DigitScore()
    misses: list[tuple[str, str]] = []
    started = time.perf_counter()
    for utterance in utterances:
        assert utterance.digits is not None
        text = transcribe(pipeline_input(utterance, preroll_s))
        result.add(utterance.digits, text)
        if heard_digits(text) != utterance.digits:
            misses.append((utterance.digits, text))
    per = (time.perf_counter() - started) / max(1, len(utterances))
    return result, per, misses


def levenshtein_words(a: list[str], b: list[str]) -> int:
    """Word edits between two word lists (for word error rate)."""
    row = list(range(len(b) + 1))
    for i, wa in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, wb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (wa != wb))
    return row[-1]
