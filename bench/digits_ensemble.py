"""Encode once, decode several ways: can extra decodes lift digit accuracy cheaply?

``.venv/bin/python bench/digits_ensemble.py [--held-out] [--count N] [--seed S]``

Each utterance is encoded once (the 30 s-padded encoder, as faster-whisper runs it); the
encoder output is then reused for several greedy decodes under different prompts, for
beam search, and for n-best lists. Combinations (majority vote over digit strings,
per-position vote, best score) are scored offline from the stored decodes; their cost is
the encoder plus the decodes they need, each timed on its own. ``direct`` must match
``transcribe`` (the engine's own path) before anything else is worth reading.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ctranslate2
import numpy as np
from faster_whisper.audio import pad_or_trim
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import get_suppressed_tokens

from _audio import DEV_TAKES, HELD_OUT_TAKES, DigitBank, fsdd_dir
from _stt_eval import DigitScore, heard_digits, levenshtein, pipeline_input
from voxplane.media.frame import Pcm16, to_float
from voxplane.providers.flow.engine import DIGITS_PROMPT
from voxplane.providers.whisper import WhisperEngine, WhisperOptions

PROMPTS: dict[str, str] = {
    "digits": DIGITS_PROMPT,
    "old": "Seven, eight, zero, two. Four, one, three, nine.",
    "oh-groups": "Two, oh, three, eight. Nine, one, four, seven. Six, five.",
    "number-is": "The number is three, eight, zero, two. Four, one, seven, nine.",
    "all-ten": "Zero, one, two, three, four, five, six, seven, eight, nine.",
    "words-only": "seven eight zero two four one three nine six five",
    "three-first": "Three, eight, zero, two. Four, one, seven, nine.",
    "numerals": "7802. 4139. 65.",
}
NO_SPEECH_THRESHOLD = 0.6
LOG_PROB_THRESHOLD = -1.0
"""faster-whisper's defaults: a segment this likely silent and this unsure is dropped."""


@dataclass(slots=True)
class Decode:
    text: str
    score: float  # length-normalised log probability, as CTranslate2 returns it
    seconds: float


@dataclass(slots=True)
class Record:
    truth: str
    reference: str  # the engine's own transcribe()
    encode_s: float
    decodes: dict[str, list[Decode]] = field(default_factory=dict)


class Direct:
    """faster-whisper's single-window path, taken apart so the encoder output is reused."""

    def __init__(self, engine: WhisperEngine) -> None:
        self.model: Any = engine._model
        self.tokenizer = Tokenizer(
            self.model.hf_tokenizer, self.model.model.is_multilingual, "transcribe", "en"
        )
        self.suppress = list(get_suppressed_tokens(self.tokenizer, [-1]))
        self.previous = {n: self.tokenizer.encode(" " + t.strip()) for n, t in PROMPTS.items()}
        self.prompts = {n: self.prompt(p) for n, p in self.previous.items()}

    def prompt(self, previous: list[int]) -> list[int]:
        return list(self.model.get_prompt(self.tokenizer, previous, without_timestamps=True))

    def aligned(self, names: Sequence[str]) -> list[list[int]]:
        """Prompts for one batch: CTranslate2 wants them the same length, so the longer
        ones lose their first tokens."""
        keep = min(len(self.previous[n]) for n in names)
        return [self.prompt(self.previous[n][-keep:]) for n in names]

    def encode(self, audio: np.ndarray) -> ctranslate2.StorageView:
        features = self.model.feature_extractor(audio)
        segment = pad_or_trim(features[:, : features.shape[-1] - 1])
        return self.model.encode(segment)

    def generate(
        self, encoded: ctranslate2.StorageView, prompts: list[list[int]], **kwargs: Any
    ) -> list[list[Decode]]:
        started = time.perf_counter()
        results = self.model.model.generate(
            encoded,
            prompts,
            max_length=448,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=self.suppress,
            **kwargs,
        )
        seconds = time.perf_counter() - started
        out: list[list[Decode]] = []
        for result in results:
            decodes = []
            for tokens, score in zip(result.sequences_ids, result.scores, strict=True):
                avg = score * len(tokens) / (len(tokens) + 1)
                silent = result.no_speech_prob > NO_SPEECH_THRESHOLD and avg < LOG_PROB_THRESHOLD
                text = "" if silent else self.tokenizer.decode(tokens).strip()
                decodes.append(Decode(text, score, seconds))
            out.append(decodes)
        return out


def repeat(encoded: ctranslate2.StorageView, times: int) -> ctranslate2.StorageView:
    array = np.asarray(encoded)
    return ctranslate2.StorageView.from_array(np.ascontiguousarray(np.repeat(array, times, 0)))


def collect(
    engine: WhisperEngine,
    direct: Direct,
    pcms: Sequence[Pcm16],
    truths: Sequence[str],
    batches: Sequence[tuple[str, ...]],
) -> list[Record]:
    records = []
    for pcm, truth in zip(pcms, truths, strict=True):
        reference = engine._transcribe(pcm, "en", DIGITS_PROMPT)
        audio = to_float(pcm)
        started = time.perf_counter()
        encoded = direct.encode(audio)
        _ = np.asarray(encoded)[0, 0, 0]  # make sure the encoder has run
        record = Record(truth, reference, time.perf_counter() - started)
        for name, prompt in direct.prompts.items():
            record.decodes[name] = direct.generate(encoded, [prompt], beam_size=1)[0]
        for beam in (3, 5):
            record.decodes[f"beam{beam}"] = direct.generate(
                encoded, [direct.prompts["digits"]], beam_size=beam, num_hypotheses=beam
            )[0]
        for names in batches:  # one batched call, for its cost
            batch = direct.generate(repeat(encoded, len(names)), direct.aligned(names), beam_size=1)
            record.decodes["batch:" + "+".join(names)] = [d[0] for d in batch]
        records.append(record)
    return records


def digits_of(decode: Decode) -> str:
    return heard_digits(decode.text)


def majority(strings: list[str]) -> str:
    counts = Counter(strings)
    top = max(counts.values())
    return next(s for s in strings if counts[s] == top)  # ties: the first (the main prompt)


def positional(strings: list[str]) -> str:
    lengths = Counter(len(s) for s in strings)
    top = max(lengths.values())
    length = next(len(s) for s in strings if lengths[len(s)] == top)
    same = [s for s in strings if len(s) == length]
    return "".join(majority([s[i] for s in same]) for i in range(length))


Variant = Callable[[Record], tuple[str, float]]
"""Digits heard and seconds spent on one record."""


def single(name: str, rank: int = 0) -> Variant:
    def run(r: Record) -> tuple[str, float]:
        d = r.decodes[name]
        return digits_of(d[rank]), r.encode_s + d[0].seconds

    return run


def combined(names: Sequence[str], how: str, batched: bool = False) -> Variant:
    def run(r: Record) -> tuple[str, float]:
        if batched:  # one call that decoded every prompt
            decodes = r.decodes["batch:" + "+".join(names)]
            cost = r.encode_s + decodes[0].seconds
        else:
            decodes = [r.decodes[n][0] for n in names]
            cost = r.encode_s + sum(d.seconds for d in decodes)
        strings = [digits_of(d) for d in decodes]
        if how == "vote":
            return majority(strings), cost
        if how == "position":
            return positional(strings), cost
        best = max(range(len(decodes)), key=lambda i: decodes[i].score)
        return strings[best], cost

    return run


def nbest(name: str, how: str) -> Variant:
    def run(r: Record) -> tuple[str, float]:
        decodes = r.decodes[name]
        cost = r.encode_s + decodes[0].seconds
        strings = [digits_of(d) for d in decodes]
        if how == "vote":
            return majority(strings), cost
        # the best hypothesis whose digit count is 3 or 4 (the utterances' own lengths)
        fitting = [s for s in strings if 3 <= len(s) <= 4]
        return (fitting or strings)[0], cost

    return run


def oracle(r: Record) -> tuple[str, float]:
    """The closest of every stored decode: what no combiner of these decodes can beat."""
    strings = [digits_of(d) for decodes in r.decodes.values() for d in decodes]
    return min(strings, key=lambda s: levenshtein(r.truth, s)), 0.0


def evaluate(records: Sequence[Record], variant: Variant) -> tuple[DigitScore, float]:
    result = DigitScore()
    seconds = 0.0
    for r in records:
        got, cost = variant(r)
        result.add(r.truth, got)
        seconds += cost
    return result, seconds / len(records)


def print_misses(records: Sequence[Record]) -> None:
    print("misses of greedy digits (truth: heard by digits | old | three-first | beam5 n-best)")
    for r in records:
        if digits_of(r.decodes["digits"][0]) != r.truth:
            others = " | ".join(
                digits_of(r.decodes[n][0]) for n in ("digits", "old", "three-first")
            )
            beams = ",".join(digits_of(d) for d in r.decodes["beam5"])
            print(f"    {r.truth}: {others} | {beams}   {r.decodes['digits'][0].text!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--held-out", action="store_true")
    parser.add_argument("--count", type=int, default=90)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--top", type=int, default=40, help="combinations to print")
    args = parser.parse_args()
    takes = HELD_OUT_TAKES if args.held_out else DEV_TAKES
    utterances = DigitBank(fsdd_dir()).utterances(
        args.count, takes, seed=args.seed or (7 if args.held_out else 3), gaps=(0.15, 0.35)
    )
    engine = WhisperEngine(WhisperOptions())
    direct = Direct(engine)
    batches = [("digits", "old"), ("digits", "old", "oh-groups")]
    pcms = [pipeline_input(u) for u in utterances]
    truths = [u.digits or "" for u in utterances]

    started = time.perf_counter()
    for pcm in pcms:
        engine._transcribe(pcm, "en", DIGITS_PROMPT)
    reference_ms = 1000 * (time.perf_counter() - started) / len(pcms)
    records = collect(engine, direct, pcms, truths, batches)

    agree = sum(r.reference == r.decodes["digits"][0].text for r in records)
    print(f"direct vs transcribe: identical text on {agree}/{len(records)}")
    ref = DigitScore()
    for r in records:
        ref.add(r.truth, r.reference)
    encode_ms = 1000 * float(np.mean([r.encode_s for r in records]))
    print(
        f"{'transcribe(DIGITS_PROMPT)':44s} digits={100 * ref.accuracy:5.1f}% "
        f"exact={100 * ref.exact_rate:5.1f}% {reference_ms:4.0f}ms (encode {encode_ms:.0f}ms)"
    )

    variants: dict[str, Variant] = {f"greedy {n}": single(n) for n in PROMPTS}
    for beam in (3, 5):
        variants[f"beam{beam}"] = single(f"beam{beam}")
        variants[f"beam{beam} n-best vote"] = nbest(f"beam{beam}", "vote")
        variants[f"beam{beam} n-best fit 3-4"] = nbest(f"beam{beam}", "fit")
    for names in batches:
        label = "+".join(names)
        for how in ("vote", "position", "score"):
            variants[f"batched {label} {how}"] = combined(names, how, batched=True)
    others = [n for n in PROMPTS if n != "digits"]
    combos: dict[str, Variant] = {}
    for k in (1, 2, 3):
        for extra in combinations(others, k):
            names = ("digits", *extra)
            for how in ("vote", "position", "score"):
                if k == 1 and how != "score":
                    continue  # two voters: a vote is the main prompt
                combos[f"{'+'.join(names)} {how}"] = combined(names, how)

    def line(name: str, variant: Variant) -> str:
        result, per = evaluate(records, variant)
        return (
            f"{name:44s} digits={100 * result.accuracy:5.1f}% "
            f"exact={100 * result.exact_rate:5.1f}% {1000 * per:4.0f}ms"
        )

    for name, variant in variants.items():
        print(line(name, variant))
    print(line("oracle: closest of all decodes (cost n/a)", oracle))
    print_misses(records)
    ranked = sorted(combos.items(), key=lambda kv: -evaluate(records, kv[1])[0].accuracy)
    print(f"--- best {args.top} of {len(combos)} prompt combinations")
    for name, variant in ranked[: args.top]:
        print(line(name, variant))


if __name__ == "__main__":
    main()
