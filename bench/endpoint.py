"""The telephony endpoint in virtual time: from the end of the caller's voice to the commit
of their turn, and to the first agent frame, with no load and no network.

``.venv/bin/python bench/endpoint.py [--quick]``

Two kinds of caller speech go through the phone path (8 kHz μ-law, 20 ms frames) into the
real :class:`~voxplane.pipeline.listening.Listener` (Silero VAD, the turn detector, 300 ms
end of speech, the telephony bench's agent):

- ``digits``: ``bench/telephony.py``'s utterance (FSDD "4271", jackson), frame-aligned as
  that bench sends it, after 1 s of line plus 0..7 frames (8 phases against Silero's 32 ms
  windows);
- ``sentences``: the 12 recordings of ``../shared/audio/sentences`` resampled to 8 kHz,
  after 1 s of line plus 0..156 ms in 4 ms steps (40 phases against frames and windows).

The true end of the voice is the telephony bench's: the last sample with |x| > 500.
Reported per kind (p50 / p95 / max, ms):

- ``frame``: commit − end of the frame holding that sample − 300 ms: the telephony bench's
  response overhead, less the network and the reply path (commit is the end of the frame
  whose arrival committed the turn);
- ``sample``: commit − that sample − 300 ms;
- ``dated``: the detector's end of speech − that sample; ``wait``: commit − (the detector's
  end of speech + 300 ms) (≥ 0: what the commit waited past the dated silence);
- ``split``: runs that did not commit exactly one turn (a pause ending a turn early).

``--through`` also runs the digits as whole calls (``CallSession`` over the Twilio media
stream transport on a virtual clock, scripted STT, brain and TTS, 3 turns each) and
reports first agent frame − end of the frame with the last loud sample − 300 ms: the
bench's overhead without the network, CPU and load (timer waits only); and how many turns
of the event loop the answer waited between the commit and its first frame (each one a
wait behind every other call's ready work on a loaded worker).
Writes ``bench/results/endpoint-<time>.json``; prints one summary line.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import numpy as np

from voxplane.agents.schema import CallConfig, TurnConfig
from voxplane.media.frame import AudioFrame, Pcm16
from voxplane.media.g711 import ulaw_decode, ulaw_encode
from voxplane.media.resample import resample
from voxplane.media.vad import SileroModel, SileroVad
from voxplane.media.wav import decode_wav
from voxplane.pipeline.listening import Listener
from voxplane.pipeline.replies import Replies
from voxplane.pipeline.session import CallParts, CallSession
from voxplane.pipeline.state import CallState
from voxplane.providers.scripted import FixedReplyBrain, FixedTranscriptSTT, PresynthesizedTTS
from voxplane.testing.clock import run_virtual
from voxplane.testing.fakes import SilentSttStream
from voxplane.transports.base import AudioSource, CallInfo
from voxplane.transports.twilio.protocol import Start
from voxplane.transports.twilio.stream import MediaStreamTransport
from voxplane.transports.twilio.twilio import TwilioDialect

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
AUDIO = REPO.parent / "shared" / "audio"
RESULTS = BENCH / "results"
RATE, FRAME = 8000, 160
END_OF_SPEECH_MS = 300
LOUD = 500  # the telephony bench's "voice": |x| > 500
TURN = TurnConfig(vad="silero", end_of_speech_ms=END_OF_SPEECH_MS)


def digits_utterance() -> Pcm16:
    """``bench/telephony.py``'s caller speech, padded to whole frames."""
    parts = [np.zeros(1600, np.int16)]
    for i, digit in enumerate("4271"):
        samples, _ = decode_wav((AUDIO / "fsdd" / f"{digit}_jackson_{i}.wav").read_bytes())
        parts += [samples, np.zeros(1200, np.int16)]
    audio = np.concatenate(parts)
    return np.concatenate([audio, np.zeros(FRAME - len(audio) % FRAME, np.int16)])


def sentences() -> list[tuple[str, Pcm16]]:
    out = []
    for path in sorted((AUDIO / "sentences").glob("*.wav")):
        samples, rate = decode_wav(path.read_bytes())
        out.append((path.stem, resample(samples, rate, RATE)))
    return out


def last_loud(audio: Pcm16) -> int:
    return int(np.flatnonzero(np.abs(audio.astype(np.int32)) > LOUD)[-1])


@dataclass
class Run:
    """One replay: where the voice ended and what the listener did."""

    name: str
    lead_ms: float
    true_end_ms: float
    end_frame_ms: float
    commits: list[tuple[float, float]] = field(default_factory=list)  # (commit, dated end)

    def row(self) -> dict[str, Any]:
        commit, dated = self.commits[-1] if self.commits else (float("nan"), float("nan"))
        return {
            "name": self.name,
            "lead_ms": self.lead_ms,
            "turns": len(self.commits),
            "frame": commit - self.end_frame_ms - END_OF_SPEECH_MS,
            "sample": commit - self.true_end_ms - END_OF_SPEECH_MS,
            "dated": dated - self.true_end_ms,
            "wait": commit - dated - END_OF_SPEECH_MS,
        }


class _Source(AudioSource):
    """Frames of a call; after each, notes the turns its arrival committed."""

    sample_rate = RATE

    def __init__(self, audio: Pcm16, state: CallState, run: Run) -> None:
        self._audio, self._state, self._run = audio, state, run

    async def frames(self) -> AsyncIterator[AudioFrame]:
        for index, start in enumerate(range(0, len(self._audio), FRAME)):
            yield AudioFrame(self._audio[start : start + FRAME], RATE)
            while not self._state.turns.empty():
                turn = self._state.turns.get_nowait()
                self._run.commits.append((20.0 * (index + 1), turn.end_ms))


def replay(model: SileroModel, name: str, speech: Pcm16, lead_ms: float) -> Run:
    lead = np.zeros(round(RATE * lead_ms / 1000), np.int16)
    audio = ulaw_decode(ulaw_encode(np.concatenate([lead, speech, np.zeros(RATE, np.int16)])))
    end = len(lead) + last_loud(speech)
    run = Run(name, lead_ms, 1000 * (end + 1) / RATE, 20.0 * (end // FRAME + 1))

    async def main() -> None:
        state = CallState(None)
        async with asyncio.TaskGroup() as group:
            state.start(group)
            replies = cast(Replies, SimpleNamespace(speaking=False, active=None))
            listener = Listener(state, SilentSttStream(), SileroVad(model), TURN, replies)
            await listener.run(_Source(audio, state, run))

    asyncio.run(main())
    return run


# --- whole calls, on a virtual clock ------------------------------------------------------


class _Caller:
    """Twilio's side of a call as ``bench/telephony.py`` plays it, as a message socket."""

    def __init__(self, speech: Pcm16, turns: int) -> None:
        frames = [speech[i : i + FRAME] for i in range(0, len(speech), FRAME)]
        self._frames = [base64.b64encode(ulaw_encode(f)).decode() for f in frames]
        self._silence = base64.b64encode(ulaw_encode(np.zeros(FRAME, np.int16))).decode()
        self._speech_end = last_loud(speech) // FRAME
        self._turns = turns
        self._marks: list[str] = []
        self._mark = asyncio.Event()
        self._script: AsyncIterator[str] | None = None
        self.arrivals: list[float] = []
        self.overhead_ms: list[float] = []
        self.t0 = 0.0
        self.chunk = 0
        self.on_media: Callable[[], None] = lambda: None

    async def receive(self) -> str | None:
        if self._script is None:
            self._script = self._talk()
        if not self._marks:
            loop = asyncio.get_running_loop()
            due = self.t0 + 0.02 * (self.chunk + 1)
            self._mark.clear()
            try:
                async with asyncio.timeout(max(0.0, due - loop.time())):
                    await self._mark.wait()
            except TimeoutError:
                pass
        if self._marks:
            mark = self._marks.pop(0)
            return json.dumps({"event": "mark", "streamSid": "MZ0", "mark": {"name": mark}})
        return await anext(self._script, None)

    async def send(self, text: str) -> None:
        message = json.loads(text)
        if message["event"] == "media":
            self.arrivals.append(asyncio.get_running_loop().time())
            self.on_media()
        elif message["event"] == "mark":
            self._marks.append(message["mark"]["name"])
            self._mark.set()

    async def close(self, code: int, reason: str) -> None:
        pass

    def _media(self, payload: str) -> str:
        self.chunk += 1
        return json.dumps({"event": "media", "streamSid": "MZ0", "media": {"payload": payload}})

    async def _talk(self) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        heard = 0
        for turn in range(self._turns + 1):
            while len(self.arrivals) <= heard or loop.time() - self.arrivals[-1] < 0.3:
                yield self._media(self._silence)
            if turn == self._turns:
                break
            heard = len(self.arrivals)
            speech_end = 0.0
            for index, payload in enumerate(self._frames):
                yield self._media(payload)
                if index == self._speech_end:
                    speech_end = self.t0 + 0.02 * self.chunk
            while len(self.arrivals) <= heard:
                yield self._media(self._silence)
            self.overhead_ms.append(1000 * (self.arrivals[heard] - speech_end) - END_OF_SPEECH_MS)
        yield json.dumps({"event": "stop", "streamSid": "MZ0"})


class _LoopTurns:
    """The event loop's turns from a commit to the next agent frame sent: each is a task
    switch the answer waits for, free in virtual time but a turn of a busy worker's loop
    (every other call's ready work) in real time. Counted by a callback that schedules
    itself again while a count is open (at most ``cap`` turns: a timer in the way)."""

    cap = 100

    def __init__(self) -> None:
        self.counts: list[int] = []
        self._turns: int | None = None

    def start(self) -> None:
        if self._turns is None:
            self._turns = 0
            asyncio.get_running_loop().call_soon(self._tick)

    def stop(self) -> None:
        if self._turns is not None:
            self.counts.append(self._turns)
            self._turns = None

    def _tick(self) -> None:
        if self._turns is None:
            return
        self._turns += 1
        if self._turns >= self.cap:
            self.stop()
        else:
            asyncio.get_running_loop().call_soon(self._tick)


def whole_call(
    model: SileroModel, lead_frames: int, turns: int, loop_turns: _LoopTurns
) -> list[float]:
    speech = digits_utterance()
    commit = Listener._commit

    def counted_commit(listener: Listener, start_ms: float, end_ms: float, now: float) -> None:
        loop_turns.start()  # first: its tick runs ahead of the work the commit schedules
        commit(listener, start_ms, end_ms, now)

    async def main() -> list[float]:
        caller = _Caller(speech, turns)
        caller.on_media = loop_turns.stop
        caller.chunk = lead_frames  # the phase of the call's speech against Silero's windows
        caller.t0 = asyncio.get_running_loop().time() - 0.02 * lead_frames
        start = Start("MZ0", "CA0", "pcmu", RATE)
        transport = MediaStreamTransport(caller, TwilioDialect(), start, CallInfo("CA0", "twilio"))
        parts = CallParts(
            stt=FixedTranscriptSTT(["Four two seven one."]),
            brain=FixedReplyBrain("Hello there.", "Okay, got it."),
            tts=PresynthesizedTTS(200),
            vad=SileroVad(model),
        )
        await CallSession(parts, transport, TURN, CallConfig(record=False)).run()
        return caller.overhead_ms

    setattr(Listener, "_commit", counted_commit)  # instrumentation, undone below  # noqa: B010
    try:
        return run_virtual(main())
    finally:
        setattr(Listener, "_commit", commit)  # noqa: B010


# --- figures --------------------------------------------------------------------------------


def summary(values: list[float]) -> dict[str, float]:
    data = np.asarray([v for v in values if not np.isnan(v)], dtype=np.float64)
    if not len(data):
        return {}
    return {
        "p50": round(float(np.percentile(data, 50)), 1),
        "p95": round(float(np.percentile(data, 95)), 1),
        "max": round(float(data.max()), 1),
        "min": round(float(data.min()), 1),
    }


def figures(runs: list[Run]) -> dict[str, Any]:
    rows = [run.row() for run in runs]
    out: dict[str, Any] = {"runs": len(rows), "split": sum(r["turns"] != 1 for r in rows)}
    for key in ("frame", "sample", "dated", "wait"):
        out[key] = summary([r[key] for r in rows])
    return out


def _git() -> dict[str, Any]:
    def git(*args: str) -> str:
        run = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
        return run.stdout

    return {
        "commit": git("rev-parse", "HEAD").strip(),
        "src_dirty": bool(git("status", "-s", "src")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer phases, 4 sentences")
    parser.add_argument("--through", action="store_true", help="also whole calls (digits)")
    args = parser.parse_args()
    model = SileroModel()
    started = time.perf_counter()
    load = os.getloadavg()
    digits = digits_utterance()
    digit_runs = [replay(model, "digits", digits, 1000 + 20 * k) for k in range(8)]
    step = 16 if args.quick else 4
    chosen = sentences()[:: 3 if args.quick else 1]
    sentence_runs = [
        replay(model, name, speech, 1000 + lead)
        for name, speech in chosen
        for lead in range(0, 160, step)
    ]
    result: dict[str, Any] = {
        "bench": "endpoint",
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": _git(),
        "pythonpath": os.environ.get("PYTHONPATH", ""),
        "load_average": load,
        "end_of_speech_ms": END_OF_SPEECH_MS,
        "digits": figures(digit_runs),
        "sentences": figures(sentence_runs),
        "rows": [run.row() for run in digit_runs + sentence_runs],
    }
    through: list[float] = []
    loop_turns = _LoopTurns()
    if args.through:
        for k in range(8):
            through += whole_call(model, k, 3, loop_turns)
        result["through"] = summary(through) | {"turns": len(through)}
        result["loop_turns"] = summary([float(n) for n in loop_turns.counts])
    result["wall_s"] = round(time.perf_counter() - started, 1)
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path = RESULTS / f"endpoint-{stamp}.json"
    path.write_text(json.dumps(result, indent=1))
    d, s = result["digits"], result["sentences"]
    line = (
        f"endpoint: digits frame p50/p95 {d['frame'].get('p50')}/{d['frame'].get('p95')} ms "
        f"(dated {d['dated'].get('p50')}, wait {d['wait'].get('p50')}, split {d['split']}/"
        f"{d['runs']}); sentences frame {s['frame'].get('p50')}/{s['frame'].get('p95')}, "
        f"sample {s['sample'].get('p50')}/{s['sample'].get('p95')} ms (dated "
        f"{s['dated'].get('p50')}, wait {s['wait'].get('p50')}, split {s['split']}/{s['runs']})"
    )
    if through:
        t = result["through"]
        line += (
            f"; through p50/p95 {t['p50']}/{t['p95']} ms ({t['turns']} turns), loop turns "
            f"commit -> first frame p50/max {result['loop_turns']['p50']}/"
            f"{result['loop_turns']['max']}"
        )
    print(line + f" -> {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
