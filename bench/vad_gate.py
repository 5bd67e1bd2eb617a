"""Does the Silero gate change what the VAD decides? Gated vs ungated Silero on real speech.

``.venv/bin/python bench/vad_gate.py``

Every recording of ``../shared/audio`` (the 12 sentences; 4-digit FSDD numbers of each
speaker, digits 0.15 s apart) goes through the phone path as a call hears it: 1 s of line
before and after, 8 kHz μ-law, resampled to 16 kHz as the pipeline does (``--quality``
QQ: 320 samples per 20 ms chunk, and the same output every run; HQ, the default until
2026-12-01, gives three windows every ~100 ms and libsoxr's HQ stream does not give the
same samples from run to run), in 20 ms chunks.
The line is digital silence, or white noise at -60, -50 or -40 dBFS (a steady hiss the
gate's noise floor must learn). Both VADs feed the turn detector with the bench agent's
settings (300 ms end of speech); the turns each finds are compared: same count, and the
start and end of each matched turn within ``--tolerance-ms``. Also reported: the share of
windows whose network run the gate skipped. The gated VAD's probabilities also feed a
second detector whose turn ends are dated from where the voice last rose above the line's
noise (``SileroVad.quiet_ms``, as the pipeline does): it must find the same turns, each
end at most two windows earlier; how far each end lands after the caller's last loud
sample (|x| > 500, the telephony bench's "true end of voice") is reported for both.
Writes ``bench/results/vad_gate-<time>.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from voxplane.media.frame import Pcm16
from voxplane.media.g711 import ulaw_decode, ulaw_encode
from voxplane.media.resample import Quality, Resampler, resample
from voxplane.media.turn import TurnDetector, TurnEnded, TurnSettings
from voxplane.media.vad import DEFAULT_SILERO_GATE, SileroGate, SileroModel, SileroVad
from voxplane.media.wav import decode_wav

BENCH = Path(__file__).resolve().parent
AUDIO = BENCH.parent.parent / "shared" / "audio"
SETTINGS = TurnSettings(end_of_speech_ms=300)
NOISE_DBFS = [None, -60.0, -50.0, -40.0]


def recordings() -> list[tuple[str, Pcm16]]:
    """(name, 8 kHz samples) of every sentence and one 4-digit number per FSDD speaker."""
    out = []
    for path in sorted((AUDIO / "sentences").glob("*.wav")):
        samples, rate = decode_wav(path.read_bytes())
        out.append((path.stem, resample(samples, rate, 8000)))
    for speaker in ("jackson", "nicolas", "theo"):
        for take, digits in enumerate(("4271", "9035", "8616")):
            parts: list[Pcm16] = []
            for digit in digits:
                samples, _ = decode_wav(
                    (AUDIO / "fsdd" / f"{digit}_{speaker}_{take}.wav").read_bytes()
                )
                parts += [samples, np.zeros(1200, np.int16)]
            out.append((f"{speaker}-{digits}", np.concatenate(parts)))
    return out


def on_line(speech: Pcm16, noise_dbfs: float | None, seed: int) -> Pcm16:
    pad = np.zeros(8000, np.int16)
    audio = np.concatenate([pad, speech, pad]).astype(np.float64)
    if noise_dbfs is not None:
        rms = 32768.0 * 10 ** (noise_dbfs / 20)
        audio += np.random.default_rng(seed).normal(0.0, rms, len(audio))
    return ulaw_decode(ulaw_encode(np.clip(np.round(audio), -32768, 32767).astype(np.int16)))


Turns = list[tuple[float, float]]


def turns(vad: SileroVad, line: Pcm16, quality: Quality = "QQ") -> tuple[Turns, Turns]:
    """(start, end) ms of every turn the detector ends on ``line`` heard through ``vad``;
    then those of a second detector on the same probabilities whose ends are dated from
    the VAD's voice end, as the pipeline's listener does."""
    settings = dataclasses.replace(SETTINGS, max_backdate_ms=2 * vad.window_ms)
    plain, dated = TurnDetector(settings), TurnDetector(settings)
    resampler, window_ms, now_ms = Resampler(8000, 16000, quality), vad.window_ms, 0.0
    found: tuple[Turns, Turns] = ([], [])
    chunks = [resampler.process(line[i : i + 160]) for i in range(0, len(line), 160)]
    for chunk in [*chunks, np.zeros(16000, np.int16)]:  # the last: let a last turn end
        probs = vad.push(chunk)
        voice_end = now_ms + len(probs) * window_ms + vad.pending_ms - vad.quiet_ms
        for prob in probs:
            now_ms += window_ms
            for turns_of, events in zip(
                found,
                (
                    plain.update(prob, now_ms, window_ms),
                    dated.update(prob, now_ms, window_ms, voice_end),
                ),
                strict=True,
            ):
                turns_of += [(e.start_ms, e.end_ms) for e in events if isinstance(e, TurnEnded)]
    return found


def after_voice(found: list[tuple[float, float]], speech: Pcm16) -> list[float]:
    """How far each turn's end is after the last loud (|x| > 500) sample of the clean
    speech in the turn or in the 250 ms after its end (negative: the end came first)."""
    loud_ms = np.flatnonzero(np.abs(speech.astype(np.int32)) > 500) / 8.0 + 1000.0  # lead-in
    out = []
    for start, end in found:
        inside = loud_ms[(loud_ms >= start) & (loud_ms <= end + 250.0)]
        out.append(round(end - float(inside[-1]), 1) if len(inside) else float("nan"))
    return out


def _spread(values: list[float]) -> list[float]:
    """min, p10 and p50 of the values that are numbers."""
    finite = np.array([v for v in values if not math.isnan(v)])
    return [round(float(np.percentile(finite, q)), 1) for q in (0, 10, 50)]


def _same(a: list[tuple[float, float]], b: list[tuple[float, float]], tolerance: float) -> bool:
    return len(a) == len(b) and all(
        abs(x[0] - y[0]) <= tolerance and abs(x[1] - y[1]) <= tolerance
        for x, y in zip(a, b, strict=True)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tolerance-ms", type=float, default=64.0, help="two 32 ms windows")
    parser.add_argument("--margin-db", type=float, default=DEFAULT_SILERO_GATE.margin_db)
    parser.add_argument("--silence-dbfs", type=float, default=DEFAULT_SILERO_GATE.silence_dbfs)
    parser.add_argument("--max-prob", type=float, default=DEFAULT_SILERO_GATE.max_prob)
    parser.add_argument("--lookback", type=int, default=DEFAULT_SILERO_GATE.lookback)
    parser.add_argument("--quality", default="QQ", choices=["QQ", "HQ"], help="8 → 16 kHz")
    args = parser.parse_args()
    gate = SileroGate(
        margin_db=args.margin_db,
        silence_dbfs=args.silence_dbfs,
        lookback=args.lookback,
        max_prob=args.max_prob,
    )
    if not AUDIO.is_dir():
        print(f"{AUDIO} is missing", file=sys.stderr)
        return 2
    model = SileroModel()
    cases: list[dict[str, Any]] = []
    run, skipped, cpu = 0, 0, {"gated": 0.0, "ungated": 0.0}
    for index, (name, speech) in enumerate(recordings()):
        for noise in NOISE_DBFS:
            line = on_line(speech, noise, index)
            started = time.process_time()
            reference, _ = turns(SileroVad(model, gate=None), line, args.quality)
            cpu["ungated"] += time.process_time() - started
            again, _ = turns(SileroVad(model, gate=None), line, args.quality)
            gated_vad = SileroVad(model, gate=gate)
            started = time.process_time()
            gated, dated = turns(gated_vad, line, args.quality)
            cpu["gated"] += time.process_time() - started
            run, skipped = run + gated_vad.windows_run, skipped + gated_vad.windows_skipped
            dated_same = len(dated) == len(gated) and all(
                d[0] == g[0] and 0.0 <= g[1] - d[1] <= 64.0 + 1e-6
                for d, g in zip(dated, gated, strict=True)
            )
            shifts = [
                max(abs(a[0] - b[0]), abs(a[1] - b[1]))
                for a, b in zip(reference, gated, strict=False)
            ]
            same = _same(reference, gated, args.tolerance_ms)
            cases.append({
                "recording": name, "noise_dbfs": noise, "same": same,
                "ungated_repeats_itself": _same(reference, again, args.tolerance_ms),
                "turns_ungated": reference, "turns_gated": gated,
                "max_shift_ms": max(shifts, default=0.0),
                "skipped": round(gated_vad.windows_skipped / max(1, len(line) // 256), 3),
                "dated_same": dated_same, "turns_dated": dated,
                "after_voice_ms": after_voice(gated, speech),
                "dated_after_voice_ms": after_voice(dated, speech),
            })  # fmt: skip
    different = [c for c in cases if not c["same"]]
    unstable = [c for c in cases if not c["ungated_repeats_itself"]]
    undated_after = [v for c in cases for v in c["after_voice_ms"]]
    dated_after = [v for c in cases for v in c["dated_after_voice_ms"]]
    report: dict[str, Any] = {
        "bench": "vad_gate",
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": {
            "end_of_speech_ms": SETTINGS.end_of_speech_ms,
            "tolerance_ms": args.tolerance_ms,
            "quality": args.quality,
            "gate": {f: getattr(gate, f) for f in gate.__dataclass_fields__},
        },
        "cases": len(cases),
        "same_turns": len(cases) - len(different),
        "ungated_run_twice_same_turns": len(cases) - len(unstable),
        "windows_skipped": round(skipped / max(1, run + skipped), 3),
        "cpu_s": {k: round(v, 2) for k, v in cpu.items()},
        "max_shift_ms": max(c["max_shift_ms"] for c in cases),
        "dated_same_turns": sum(c["dated_same"] for c in cases),
        "end_after_loud_voice_ms": {
            "window": _spread(undated_after),
            "dated": _spread(dated_after),
        },
        "different": different,
        "by_case": cases,
    }
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    (BENCH / "results").mkdir(exist_ok=True)
    (BENCH / "results" / f"vad_gate-{stamp}.json").write_text(json.dumps(report, indent=1) + "\n")
    print(
        f"vad gate: {report['same_turns']}/{len(cases)} cases find the same turns "
        f"(within {args.tolerance_ms:.0f} ms; largest shift {report['max_shift_ms']:.0f} ms), "
        f"{100 * report['windows_skipped']:.0f} % of windows skipped, "
        f"CPU {cpu['ungated']:.1f} s → {cpu['gated']:.1f} s; the ungated VAD run twice agrees "
        f"with itself in {len(cases) - len(unstable)}/{len(cases)}"
    )
    spread = report["end_after_loud_voice_ms"]
    print(
        f"dated from the voice's end: {report['dated_same_turns']}/{len(cases)} cases find "
        f"the same turns, ends earlier by at most 64 ms; turn end after the last loud sample "
        f"min/p10/p50 {spread['window']} ms → {spread['dated']} ms"
    )
    for case in different:
        print(f"  differs: {case['recording']} noise {case['noise_dbfs']}: "
              f"{case['turns_ungated']} vs {case['turns_gated']}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
