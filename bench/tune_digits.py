"""Try Whisper prompts and decoding options for spoken digits on the dev split (takes 0-2).

``.venv/bin/python bench/tune_digits.py [--held-out] [--count N]`` prints one line per
variant. Choose on dev; confirm the choice once on held-out (takes 3-4).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np

from _audio import DEV_TAKES, HELD_OUT_TAKES, DigitBank, fsdd_dir
from _stt_eval import score
from voxplane.media.frame import Pcm16, to_float
from voxplane.providers.whisper import WhisperEngine, WhisperOptions

OLD = "Seven, eight, zero, two. Four, one, three, nine."
VARIANTS: dict[str, dict[str, Any]] = {
    "none": {},
    "current": {"initial_prompt": OLD},
    "current+six-five": {"initial_prompt": OLD + " Six, five."},
    "words-only": {"initial_prompt": "seven eight zero two four one three nine six five"},
    "sentence": {"initial_prompt": "My number is seven, eight, zero, two."},
    "numerals": {"initial_prompt": "7802. 4139. 65."},
    "all-ten": {"initial_prompt": "Zero, one, two, three, four, five, six, seven, eight, nine."},
    "current+hotwords": {
        "initial_prompt": OLD,
        "hotwords": "zero one two three four five six seven eight nine",
    },
    "current+fallback": {"initial_prompt": OLD, "temperature": (0.0, 0.2, 0.4)},
    "current+beam5": {"initial_prompt": OLD, "beam_size": 5},
    "short": {"initial_prompt": "Seven, eight, zero, two."},
    "three-first": {"initial_prompt": "Three, eight, zero, two. Four, one, seven, nine."},
    "oh-groups": {"initial_prompt": "Two, oh, three, eight. Nine, one, four, seven. Six, five."},
    "three-groups": {
        "initial_prompt": "Eight, three, three. Zero, two, one, nine. Four, seven, six."
    },
    "number-is": {
        "initial_prompt": "The number is three, eight, zero, two. Four, one, seven, nine."
    },
}


def transcriber(engine: WhisperEngine, options: dict[str, Any], normalise: bool) -> Any:
    model = engine._model  # the bench tries options the engine does not expose

    def run(samples: Pcm16) -> str:
        audio = to_float(samples)
        if normalise:
            peak = float(np.max(np.abs(audio))) or 1.0
            audio = audio * (0.5 / peak)
        kwargs: dict[str, Any] = {
            "language": "en",
            "beam_size": 1,
            "temperature": 0.0,
            "condition_on_previous_text": False,
            "without_timestamps": True,
            "vad_filter": False,
        }
        kwargs.update(options)
        segments, _info = model.transcribe(audio, **kwargs)
        return " ".join(s.text.strip() for s in segments).strip()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--held-out", action="store_true")
    parser.add_argument("--count", type=int, default=90)
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--preroll", type=float, nargs="*", default=[0.3])
    parser.add_argument("--normalise", action="store_true")
    parser.add_argument("--show-misses", action="store_true")
    parser.add_argument("--seed", type=int, default=None, help="another sample of strings")
    args = parser.parse_args()
    takes = HELD_OUT_TAKES if args.held_out else DEV_TAKES
    utterances = DigitBank(fsdd_dir()).utterances(
        args.count, takes, seed=args.seed or (7 if args.held_out else 3), gaps=(0.15, 0.35)
    )
    engine = WhisperEngine(WhisperOptions())
    for name, options in VARIANTS.items():
        if args.only and name not in args.only:
            continue
        for preroll in args.preroll:
            run = transcriber(engine, options, args.normalise)
            result, per, misses = score(run, utterances, preroll)
            print(
                f"{name:18s} preroll={preroll:.2f} digits={100 * result.accuracy:5.1f}% "
                f"exact={100 * result.exact_rate:5.1f}% first-digit-errors="
                f"{result.first_digit_errors} n={result.utterances} {1000 * per:.0f}ms/utt",
                flush=True,
            )
            if args.show_misses:
                for truth, text in misses:
                    print(f"    {truth}: {text!r}")


if __name__ == "__main__":
    main()
