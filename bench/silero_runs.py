"""What one Silero ``Session.run`` costs for 1 to 8 windows in one sequence, and whether a
sequence scores as window by window.

``.venv/bin/python bench/silero_runs.py [--rounds 15] [--windows 1200]``

The model takes a sequence of windows (``input`` is ``[seq_len, 576]``, the LSTM state
``h``/``c`` is batch 1), so windows held back can run together (``SileroHold``). Timed: CPU
per window for runs of N windows (N = 1, 2, 3, 4, 6, 8), rounds alternating, on random
rows; reported: min and median per window over the rounds, and the fixed cost per run and
the cost per window fitted to the minima. Checked: a recording of ``../shared/audio``,
scored in sequences of N, gives the same probabilities and final state as window by window.
Writes ``bench/results/silero_runs-<time>.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from voxplane.media.frame import to_float
from voxplane.media.resample import resample
from voxplane.media.vad import SileroModel
from voxplane.media.wav import decode_wav

BENCH = Path(__file__).resolve().parent
SENTENCE = BENCH.parent.parent / "shared" / "audio" / "sentences"
SIZES = (1, 2, 3, 4, 6, 8)
Rows = npt.NDArray[np.float32]


def _run(session: Any, rows: Rows, size: int) -> tuple[list[float], Rows, Rows]:
    """Scores of ``rows`` run ``size`` at a time from a fresh state; the final state."""
    h = c = np.zeros((1, 1, 128), np.float32)
    probs: list[float] = []
    for start in range(0, len(rows) - len(rows) % size, size):
        out, h, c = session.run(None, {"input": rows[start : start + size], "h": h, "c": c})
        probs += np.asarray(out).reshape(-1).tolist()
    return probs, h, c


def speech_rows() -> Rows:
    """The first sentence at 16 kHz as the VAD's rows (64 samples of context + a window)."""
    path = sorted(SENTENCE.glob("*.wav"))[0]
    samples, rate = decode_wav(path.read_bytes())
    audio = to_float(resample(samples, rate, 16000))
    count = len(audio) // 512
    padded = np.concatenate([np.zeros(64, np.float32), audio])
    return np.stack([padded[k * 512 : k * 512 + 576] for k in range(count)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--windows", type=int, default=1200)
    args = parser.parse_args()
    session = SileroModel().session
    rows = speech_rows()
    one, _, _ = _run(session, rows, 1)
    same: dict[int, float] = {}
    for size in SIZES[1:]:
        probs, h, c = _run(session, rows, size)
        count = len(probs)
        _, h_ref, c_ref = _run(session, rows[:count], 1)
        same[size] = max(
            float(np.max(np.abs(np.array(probs) - np.array(one[:count])))),
            float(np.max(np.abs(h - h_ref))),
            float(np.max(np.abs(c - c_ref))),
        )
    noise = np.random.default_rng(0).normal(0.0, 0.1, (args.windows, 576)).astype(np.float32)
    timings: dict[int, list[float]] = {size: [] for size in SIZES}
    for _ in range(args.rounds):
        for size in SIZES:
            started = time.process_time()
            _run(session, noise, size)
            used = args.windows - args.windows % size
            timings[size].append(1e6 * (time.process_time() - started) / used)
    minima = np.array([min(timings[size]) for size in SIZES])
    per_window, per_run = np.polyfit(1.0 / np.array(SIZES), minima, 1)[::-1]
    per_size = {
        size: {"min": round(min(t), 1), "median": round(float(np.median(t)), 1)}
        for size, t in timings.items()
    }
    report = {
        "bench": "silero_runs",
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": vars(args),
        "load_average": Path("/proc/loadavg").read_text().split()[:3],
        "us_per_window": per_size,
        "fit_us": {"per_run": round(per_run, 1), "per_window": round(per_window, 1)},
        "max_abs_difference_vs_one_by_one": same,
        "speech_windows_checked": len(rows),
    }
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    (BENCH / "results").mkdir(exist_ok=True)
    (BENCH / "results" / f"silero_runs-{stamp}.json").write_text(
        json.dumps(report, indent=1) + "\n"
    )
    for size, t in per_size.items():
        print(f"{size} window(s) per run: {t['min']:.1f} µs per window (median {t['median']:.1f})")
    print(
        f"fit: {per_run:.1f} µs per run + {per_window:.1f} µs per window; sequences vs one by "
        f"one on {len(rows)} speech windows: largest difference {max(same.values()):.1e}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
