"""Recognizer A/B: today's faster-whisper call against the engine's short-window batches.

``.venv/bin/python bench/stt_ab.py [--window 10 15 20] [--digits N] [--threads 1 2]``

Both sides run the same model files (each on its own loaded copy, with its own thread
settings), on the same clips, interleaved clip by clip (so load from other processes hits
both alike), through the phone path (8 kHz μ-law, 16 kHz,
300 ms silence before and 150 ms after, as the pipeline cuts a turn):

- ``old``: ``WhisperModel.transcribe`` on its own copy of the model, with the thread
  settings and the arguments ``WhisperSTT.recognize`` used before (beam 1, no timestamps,
  no VAD filter, the prompt as ``initial_prompt``): every utterance in a 30-s window;
- ``new``: ``WhisperEngine._transcribe``, the path every call now takes.

Accuracy, speakers split: the tuning speakers are FSDD ``jackson`` and sentence speaker
``spk1``; reported are ``nicolas`` + ``theo`` and ``spk2``. Digit strings (3-4 digits)
carry the flow's digits hint as in a call; sentences carry no hint. Writes
``bench/results/stt_ab-<time>.json``; one summary line.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _audio import FSDD_RATE, DigitBank, Utterance, fsdd_dir, real_sentences
from _stt_eval import DigitScore, levenshtein_words, pipeline_input
from voxplane.agents.loader import load_agent_file
from voxplane.media.frame import Pcm16
from voxplane.providers.flow.brain import FlowBrain
from voxplane.providers.whisper import WhisperEngine, WhisperOptions

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
OLD_OPTIONS = WhisperOptions(cpu_threads=2, workers=1)
"""The model as ``WhisperSTT.recognize`` ran it before the engine: one thread of two
CTranslate2 threads (the ``old`` side gets its own copy, whatever the engine's settings)."""
TUNE = {"digits": ("jackson",), "sentences": ("spk1",)}
REPORT = {"digits": ("nicolas", "theo"), "sentences": ("spk2",)}


def digits_hint() -> str:
    agent = load_agent_file(BENCH / "agents" / "digits-loop.yaml")
    hint = FlowBrain(agent.brain, agent.call.first_message).stt_hint()
    assert hint is not None
    return hint.prompt


def digit_strings(bank: DigitBank, speaker: str, count: int, seed: int) -> list[Utterance]:
    """``count`` strings of 3-4 digits by ``speaker``, any take, 0.15-0.35 s pauses."""
    rng = random.Random(seed)
    out: list[Utterance] = []
    for _ in range(count):
        digits = [rng.randrange(10) for _ in range(rng.choice((3, 4)))]
        parts: list[Pcm16] = []
        for i, digit in enumerate(digits):
            if i:
                parts.append(np.zeros(round(rng.uniform(0.15, 0.35) * FSDD_RATE), np.int16))
            parts.append(bank.clip(digit, speaker, rng.randrange(5)))
        samples = np.concatenate(parts)
        spoken = "".join(map(str, digits))
        out.append(Utterance(samples, FSDD_RATE, len(samples) / FSDD_RATE, spoken, spoken))
    return out


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


class Side:
    """One recognizer's running score: time, CPU time and accuracy per speaker."""

    def __init__(self, transcribe: Callable[[Pcm16, str | None], str]) -> None:
        self.transcribe = transcribe
        self.wall_ms: list[float] = []
        self.cpu_ms: list[float] = []
        self.digits: dict[str, DigitScore] = {}
        self.word_edits: dict[str, list[int]] = {}
        self.misses: list[dict[str, str]] = []

    def run(self, audio: Pcm16, prompt: str | None, speaker: str, truth: Utterance) -> None:
        cpu, wall = time.process_time(), time.perf_counter()
        heard = self.transcribe(audio, prompt)
        self.wall_ms.append(1000 * (time.perf_counter() - wall))
        self.cpu_ms.append(1000 * (time.process_time() - cpu))
        if truth.digits is not None:
            score = self.digits.setdefault(speaker, DigitScore())
            before = score.edits
            score.add(truth.digits, heard)
            wrong = score.edits > before
        else:
            edits = levenshtein_words(words(truth.text), words(heard))
            total = self.word_edits.setdefault(speaker, [0, 0])
            total[0] += edits
            total[1] += len(words(truth.text))
            wrong = edits > 0
        if wrong:
            self.misses.append({"speaker": speaker, "said": truth.text, "heard": heard})

    def document(self) -> dict[str, Any]:
        def split(names: dict[str, tuple[str, ...]]) -> dict[str, Any]:
            score = DigitScore()
            for speaker in names["digits"]:
                part = self.digits.get(speaker)
                if part is not None:
                    score.edits += part.edits
                    score.digits += part.digits
                    score.exact += part.exact
                    score.utterances += part.utterances
            edits = [self.word_edits.get(s, [0, 0]) for s in names["sentences"]]
            ref = sum(e[1] for e in edits)
            return {
                "speakers": [*names["digits"], *names["sentences"]],
                "digit_accuracy": round(score.accuracy, 4),
                "digit_strings_exact": round(score.exact_rate, 4),
                "digit_strings": score.utterances,
                "sentence_wer": round(sum(e[0] for e in edits) / ref, 4) if ref else None,
            }

        return {
            "ms_p50": _pct(self.wall_ms, 50),
            "ms_mean": round(float(np.mean(self.wall_ms)), 1),
            "ms_p95": _pct(self.wall_ms, 95),
            "cpu_ms_mean": round(float(np.mean(self.cpu_ms)), 1),
            "tune": split(TUNE),
            "report": split(REPORT),
            "misses": self.misses,
        }


def _pct(values: Sequence[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 1)


def clips(digits_per_speaker: int) -> list[tuple[str, Utterance, bool]]:
    """(speaker, utterance, hinted) for every sentence and the digit strings."""
    bank = DigitBank(fsdd_dir())
    out: list[tuple[str, Utterance, bool]] = []
    for speaker in ("spk1", "spk2"):
        out += [(speaker, u, False) for u in real_sentences((speaker,))]
    for n, speaker in enumerate(("jackson", "nicolas", "theo")):
        out += [(speaker, u, True) for u in digit_strings(bank, speaker, digits_per_speaker, n)]
    return out


def ab(
    engines: dict[str, WhisperEngine], digits_per_speaker: int, old: WhisperEngine
) -> dict[str, Any]:
    """``old`` (faster-whisper, 30-s window) against each engine in ``engines``."""
    prompt = digits_hint()
    sides = {"old": Side(lambda s, p: old._long_form(s, "en", p))}
    for name, engine in engines.items():
        sides[name] = Side(lambda s, p, e=engine: e._transcribe(s, "en", p))
    for side in sides.values():  # warm every path once
        side.transcribe(np.zeros(16_000, np.int16), None)
    retried = {name: engine.retried for name, engine in engines.items()}
    for speaker, utterance, hinted in clips(digits_per_speaker):
        audio = pipeline_input(utterance)
        for side in sides.values():
            side.run(audio, prompt if hinted else None, speaker, utterance)
    out = {name: side.document() for name, side in sides.items()}
    for name, engine in engines.items():
        out[name]["retried_in_full_window"] = engine.retried - retried[name]
    base = out["old"]["ms_mean"]
    for name in engines:
        out[name]["time_cut"] = round(1 - out[name]["ms_mean"] / base, 3)
        out[name]["cpu_cut"] = round(1 - out[name]["cpu_ms_mean"] / out["old"]["cpu_ms_mean"], 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--window", type=float, nargs="*", default=[WhisperOptions().window_s])
    parser.add_argument("--threads", type=int, nargs="*", default=[WhisperOptions().cpu_threads])
    parser.add_argument("--digits", type=int, default=20, help="digit strings per speaker")
    args = parser.parse_args()
    engines = {
        f"new_w{w:g}_t{t}": WhisperEngine(WhisperOptions(window_s=w, cpu_threads=t))
        for w in args.window
        for t in args.threads
    }
    old = WhisperEngine(OLD_OPTIONS)
    started = time.perf_counter()
    report = {"ab": ab(engines, args.digits, old), "digits_per_speaker": args.digits}
    report["bench_s"] = round(time.perf_counter() - started, 1)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"stt_ab-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}", file=sys.stderr)
    print(summary_line(report["ab"]))


def summary_line(ab: dict[str, Any]) -> str:
    parts = []
    for name, side in ab.items():
        rep = side["report"]
        cut = f" cut {100 * side['time_cut']:.0f}%" if "time_cut" in side else ""
        parts.append(
            f"{name}: {side['ms_mean']:.0f}ms mean{cut}, digits {100 * rep['digit_accuracy']:.1f}%"
            f" WER {100 * rep['sentence_wer']:.1f}% (report split)"
        )
    return "stt_ab: " + "; ".join(parts)


if __name__ == "__main__":
    main()
