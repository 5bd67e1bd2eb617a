"""The text end-of-utterance estimate (what an LLM brain's ``turn_complete`` uses) on real
sentences: whole sentences must be complete, truncated ones should be held.

    .venv/bin/python bench/turn_end_text.py

Cases come from ``../shared/audio/sentences/transcripts.json`` (12 Harvard sentences read by
two speakers): each whole sentence is a positive (answer at once), and every cut of it at
a word boundary is a negative (the caller paused mid-sentence). Whisper writes a cut
utterance either bare ("the child almost") or closed with a period ("The child almost."),
so both forms are scored. Writes ``bench/results/turn_end_text-<time>.json`` and
``-latest.json``; one summary line on stdout. No timing: a pure text measure.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from voxplane.providers.turn_end import text_turn_complete

BENCH = Path(__file__).resolve().parent
SENTENCES = BENCH.parents[1] / "shared" / "audio" / "sentences" / "transcripts.json"
RESULTS = BENCH / "results"


def main() -> int:
    texts: dict[str, str] = json.loads(SENTENCES.read_text())
    whole = list(texts.values())
    cuts = []
    for sentence in whole:
        words = sentence.rstrip(".").split()
        cuts.extend(" ".join(words[:n]) for n in range(1, len(words)))
    held_whole = [s for s in whole if not text_turn_complete(s)]
    forms = {"bare": cuts, "period": [f"{c}." for c in cuts]}
    report: dict[str, object] = {
        "source": str(SENTENCES.relative_to(BENCH.parents[1])),
        "sentences": len(whole),
        "whole_held": len(held_whole),
        "whole_held_examples": held_whole,
        "cuts": len(cuts),
    }
    for name, cases in forms.items():
        held = [c for c in cases if not text_turn_complete(c)]
        missed = [c for c in cases if text_turn_complete(c)]
        report[f"cuts_held_{name}"] = len(held)
        report[f"cuts_held_rate_{name}"] = round(len(held) / len(cases), 3)
        report[f"cuts_answered_examples_{name}"] = missed[:12]
    RESULTS.mkdir(exist_ok=True)
    text = json.dumps(report, indent=2) + "\n"
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = RESULTS / f"turn_end_text-{stamp}.json"
    path.write_text(text)
    (RESULTS / "turn_end_text-latest.json").write_text(text)
    print(f"wrote {path}", file=sys.stderr)
    print(
        f"turn_end_text: whole sentences held {report['whole_held']}/{len(whole)}; "
        f"cuts held {report['cuts_held_bare']}/{len(cuts)} bare, "
        f"{report['cuts_held_period']}/{len(cuts)} with a period"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
