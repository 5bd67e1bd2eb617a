"""CPU of one phone call's media path, without sockets or scheduling: before and after.

``.venv/bin/python bench/media_path.py [--calls 50] [--seconds 20] [--rounds 3]``

The full telephony bench (``telephony.py``) measures a real worker, but on a shared
machine its CPU figures move by ±30 % with the neighbours. This one runs, in one process
and one thread, what the worker does for every 20 ms message of a Twilio call, for
``--calls`` calls interleaved frame by frame (so caches are shared as in a worker):

in: parse the media message → μ-law decode → the recording tap → resample to 16 kHz (HQ,
as the pipeline) → Silero VAD → the turn detector; out (while the agent speaks): the
recording tap → μ-law encode → the media message.

The caller says the telephony bench's utterance (FSDD "4271", 2.7 s) then listens to a
1.2 s answer, over and over. Two variants alternate in rounds: **before** (Silero on every
window, recording resampled frame by frame: what the worker did before the gate) and
**after** (the gated Silero, recording at the line's 8 kHz). Reported: CPU ms per
call-second of each, their ratio, and the share of Silero windows skipped. Writes
``bench/results/media_path-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
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
from voxplane.media.turn import TurnDetector, TurnSettings
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


class Call:
    def __init__(self, model: SileroModel, after: bool, loop_time: float) -> None:
        self.dialect = TwilioDialect()
        self.vad = SileroVad(model) if after else SileroVad(model, gate=None)
        self.detector = TurnDetector(TurnSettings(end_of_speech_ms=300))
        self.resampler = Resampler(8000, 16000)
        self.recorder = CallRecorder(_NullWriter())  # type: ignore[arg-type]
        if after:
            self.recorder.line_rates(8000, 8000)
        self.vad_ms = 0.0
        self.t = loop_time

    def hear(self, message: str) -> None:
        media = self.dialect.parse(message)
        assert isinstance(media, Media)
        frame = AudioFrame(ulaw_decode(media.payload), 8000)
        self.t += 0.02
        self.recorder.add(0, frame, self.t)
        for prob in self.vad.push(self.resampler.process(frame.samples)):
            self.vad_ms += self.vad.window_ms
            self.detector.update(prob, self.vad_ms, self.vad.window_ms)

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


async def run(model: SileroModel, after: bool, calls: int, seconds: float) -> dict[str, Any]:
    turn, speech_frames = messages()
    agent = (np.sin(np.arange(160) / 5) * 3000).astype(np.int16)
    loop_time = asyncio.get_running_loop().time()
    group = [Call(model, after, loop_time) for _ in range(calls)]
    frames = round(seconds / 0.02)
    started = time.process_time()
    for i in range(frames):
        index = i % len(turn)
        for n, call in enumerate(group):
            call.hear(turn[(index + 7 * n) % len(turn)])  # calls out of phase
            if (index + 7 * n) % len(turn) >= speech_frames:
                call.say(agent)
    for call in group:
        await call.recorder.flush()
    cpu = time.process_time() - started
    run_ = sum(c.vad.windows_run for c in group)
    skipped = sum(c.vad.windows_skipped for c in group)
    return {
        "ms_per_call_s": round(1000 * cpu / (calls * seconds), 3),
        "silero_windows_skipped": round(skipped / max(1, run_ + skipped), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    model = SileroModel()
    results: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    for _ in range(args.rounds):
        for variant in ("before", "after"):
            outcome = asyncio.run(run(model, variant == "after", args.calls, args.seconds))
            results[variant].append(outcome)
    median = {v: float(np.median([r["ms_per_call_s"] for r in rs])) for v, rs in results.items()}
    report = {
        "bench": "media_path",
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": vars(args),
        "load_average": Path("/proc/loadavg").read_text().split()[:3],
        "rounds": results,
        "median_ms_per_call_s": median,
        "after_over_before": round(median["after"] / median["before"], 3),
    }
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    (BENCH / "results").mkdir(exist_ok=True)
    (BENCH / "results" / f"media_path-{stamp}.json").write_text(json.dumps(report, indent=1) + "\n")
    print(
        f"media path, {args.calls} calls: before {median['before']:.2f} → after "
        f"{median['after']:.2f} ms CPU per call-second (×{report['after_over_before']}), "
        f"Silero windows skipped {results['after'][-1]['silero_windows_skipped']:.0%}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
