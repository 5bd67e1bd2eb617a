"""CPU of one phone call's media path, without sockets or scheduling: before and after.

``.venv/bin/python bench/media_path.py [--calls 50] [--seconds 20] [--rounds 3] [--baseline-vad F]``

The full telephony bench (``telephony.py``) measures a real worker, but on a shared
machine its CPU figures move by ±30 % with the neighbours. This one runs, in one process
and one thread, what the worker does for every 20 ms message of a Twilio call, for
``--calls`` calls interleaved frame by frame (so caches are shared as in a worker):

in: parse the media message → μ-law decode → the recording tap → resample to 16 kHz (QQ,
as the pipeline upsamples 8 kHz: 320 samples out per 20 ms in; HQ gives ~1660 every
~100 ms, three Silero windows at once) → Silero VAD → the turn detector as the listener
drives it (ends dated from the VAD's ``quiet_ms``, a ``peek`` when the end is due between
windows); out (while the agent speaks): the recording tap → μ-law encode → the media
message.

The caller says the telephony bench's utterance (FSDD "4271", 2.7 s) then listens to a
1.2 s answer, over and over. Two variants run side by side, ``--calls`` calls each,
interleaved call by call, each call's CPU counted to its variant (so a busy neighbour
weighs on both alike), in ``--rounds`` rounds: **before** (Silero on every window,
recording resampled frame by frame: what the worker did before the gate) and **after**
(the gated Silero, recording at the line's 8 kHz). Reported: CPU ms per call-second of
each, their ratio (of the medians, and the median of the rounds' ratios), the share of
Silero windows skipped, Silero runs per call-second and the turns ended. Writes
``bench/results/media_path-<time>.json``.

``--baseline-vad F`` (another tree's ``src/voxplane/media/vad.py``, e.g. main's): then
**before** is the same path as after but with that file's ``SileroVad`` (its defaults): an
A/B of a VAD change alone.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import importlib.util
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from telephony import utterance
from voxplane.media.frame import AudioFrame
from voxplane.media.g711 import ulaw_decode, ulaw_encode
from voxplane.media.resample import Resampler
from voxplane.media.turn import TurnDetector, TurnEnded, TurnSettings
from voxplane.media.vad import SileroModel, SileroVad
from voxplane.runtime.recording import CallRecorder
from voxplane.transports.twilio.protocol import Media
from voxplane.transports.twilio.twilio import TwilioDialect

BENCH = Path(__file__).resolve().parent
ANSWER_FRAMES = 60  # 1.2 s of agent audio per turn


class _NullWriter:
    async def write(self, pcm: bytes) -> None:
        pass

    async def commit(self) -> None:
        pass

    async def abort(self) -> None:
        pass


class _CountingSession:
    """A Silero session that counts its runs."""

    def __init__(self, session: Any) -> None:
        self.session, self.runs = session, 0

    def run(self, names: Any, feed: dict[str, Any]) -> Any:
        self.runs += 1
        return self.session.run(names, feed)


class Call:
    def __init__(self, vad: Any, line_rate: bool, loop_time: float) -> None:
        self.dialect = TwilioDialect()
        self.vad = vad
        self.session = vad._session = _CountingSession(vad._session)
        self.detector = TurnDetector(TurnSettings(end_of_speech_ms=300, max_backdate_ms=64.0))
        self.resampler = Resampler(8000, 16000, "QQ")  # as Listener (_inbound_quality)
        self.recorder = CallRecorder(_NullWriter())  # type: ignore[arg-type]
        if line_rate:
            self.recorder.line_rates(8000, 8000)
        self.vad_ms = 0.0
        self.turns = 0
        self.t = loop_time

    def hear(self, message: str) -> None:
        media = self.dialect.parse(message)
        assert isinstance(media, Media)
        frame = AudioFrame(ulaw_decode(media.payload), 8000)
        self.t += 0.02
        self.recorder.add(0, frame, self.t)
        # as Listener._hear: turn ends dated from the voice's end, and a peek when due
        vad, detector, window_ms = self.vad, self.detector, self.vad.window_ms
        probs = vad.push(self.resampler.process(frame.samples))
        heard_to = self.vad_ms + len(probs) * window_ms + vad.pending_ms
        listening = detector.in_turn and (bool(probs) or not detector.in_speech)
        voice_end = heard_to - vad.quiet_ms if listening else None
        for prob in probs:
            self.vad_ms += window_ms
            events = detector.update(prob, self.vad_ms, window_ms, voice_end)
            self.turns += sum(isinstance(e, TurnEnded) for e in events)
        if detector.end_due(heard_to, voice_end):
            tail = vad.peek()
            if tail is not None:
                events = detector.update_between(tail, heard_to, voice_end)
                self.turns += sum(isinstance(e, TurnEnded) for e in events)

    def say(self, samples: np.ndarray) -> str:
        self.recorder.add(1, AudioFrame(samples, 8000), self.t + 0.02)
        return self.dialect.media("MZ0", ulaw_encode(samples))


def messages() -> tuple[list[str], int]:
    """One turn of caller messages (speech, then silence while the agent answers)."""
    speech = utterance()
    silence = base64.b64encode(ulaw_encode(np.zeros(160, np.int16))).decode()
    payloads = speech.frames + [silence] * ANSWER_FRAMES
    return [
        f'{{"event":"media","streamSid":"MZ0","media":{{"track":"inbound",'
        f'"chunk":"{i}","timestamp":"{20 * i}","payload":"{p}"}}}}'
        for i, p in enumerate(payloads)
    ], len(speech.frames)


def vads(baseline: Path | None) -> dict[str, Any]:
    """Per variant: a function making one call's VAD, and whether the recording taps
    at the line's rate."""
    model = SileroModel()
    if baseline is None:
        return {
            "before": (lambda: SileroVad(model, gate=None), False),
            "after": (lambda: SileroVad(model), True),
        }
    spec = importlib.util.spec_from_file_location("baseline_vad", baseline)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    base_model = module.SileroModel()
    return {
        "before": (lambda: module.SileroVad(base_model), True),
        "after": (lambda: SileroVad(model), True),
    }


async def run(variants: dict[str, Any], calls: int, seconds: float) -> dict[str, Any]:
    """Both variants' calls in one loop, frame by frame, each call's CPU counted to its
    variant: both see the same neighbours, to the millisecond."""
    turn, speech_frames = messages()
    agent = (np.sin(np.arange(160) / 5) * 3000).astype(np.int16)
    loop_time = asyncio.get_running_loop().time()
    groups = {
        name: [Call(make_vad(), line_rate, loop_time) for _ in range(calls)]
        for name, (make_vad, line_rate) in variants.items()
    }
    cpu = dict.fromkeys(groups, 0.0)
    clock = time.process_time
    for i in range(round(seconds / 0.02)):
        index = i % len(turn)
        for n in range(calls):
            phase = (index + 7 * n) % len(turn)  # calls out of phase
            for name in (*groups,) if n % 2 == 0 else (*reversed(groups),):
                call, started = groups[name][n], clock()
                call.hear(turn[phase])
                if phase >= speech_frames:
                    call.say(agent)
                cpu[name] += clock() - started
    out = {}
    for name, group in groups.items():
        started = clock()
        for call in group:
            await call.recorder.flush()
        run_ = sum(c.vad.windows_run for c in group)
        skipped = sum(c.vad.windows_skipped for c in group)
        runs = sum(c.session.runs for c in group)
        out[name] = {
            "ms_per_call_s": round(1000 * (cpu[name] + clock() - started) / (calls * seconds), 3),
            "silero_windows_skipped": round(skipped / max(1, run_ + skipped), 3),
            "silero_runs_per_call_s": round(runs / (calls * seconds), 2),
            "turns_ended": sum(c.turns for c in group),
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline-vad", type=Path, help="before: this vad.py's SileroVad")
    args = parser.parse_args()
    variants = vads(args.baseline_vad)
    results: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    for _ in range(args.rounds):
        outcome = asyncio.run(run(variants, args.calls, args.seconds))
        for variant, result in outcome.items():
            results[variant].append(result)
    median = {v: float(np.median([r["ms_per_call_s"] for r in rs])) for v, rs in results.items()}
    # the median of each round's ratio: steadier than the ratio of medians on a busy machine
    paired = [
        after["ms_per_call_s"] / before["ms_per_call_s"]
        for after, before in zip(results["after"], results["before"], strict=True)
    ]
    report = {
        "bench": "media_path",
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "load_average": Path("/proc/loadavg").read_text().split()[:3],
        "rounds": results,
        "median_ms_per_call_s": median,
        "after_over_before": round(median["after"] / median["before"], 3),
        "after_over_before_per_round": round(float(np.median(paired)), 3),
    }
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    (BENCH / "results").mkdir(exist_ok=True)
    (BENCH / "results" / f"media_path-{stamp}.json").write_text(json.dumps(report, indent=1) + "\n")
    print(
        f"media path, {args.calls} calls: before {median['before']:.2f} → after "
        f"{median['after']:.2f} ms CPU per call-second (×{report['after_over_before']}; "
        f"median of the rounds' ratios ×{report['after_over_before_per_round']}), "
        f"Silero windows skipped {results['after'][-1]['silero_windows_skipped']:.0%}, "
        f"Silero runs per call-second {results['before'][-1]['silero_runs_per_call_s']} → "
        f"{results['after'][-1]['silero_runs_per_call_s']}, turns ended "
        f"{results['before'][-1]['turns_ended']} → {results['after'][-1]['turns_ended']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
