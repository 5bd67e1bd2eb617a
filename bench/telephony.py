"""Calls per core over Twilio Media Streams: one ``voxplane serve`` pinned to one core.

``.venv/bin/python bench/telephony.py [--quick] [--calls 10 50 100 200] [--turns 3]``

A fresh PostgreSQL database (dropped at the end) gets one tenant with a Twilio credential,
a number and an agent on **scripted providers** (``provider: scripted``: a fixed transcript,
a fixed reply, pre-synthesized audio), so what is measured is the platform: the webhook,
the websocket, μ-law, resampling, Silero VAD, the turn detector, the 20 ms pacer, playout
marks, leases and call records. ONE ``voxplane serve`` runs pinned to core 0 (limits and
leases in Redis); this process, pinned to core 1, plays Twilio for N concurrent calls
(starts spread over 2 s): each signs the webhook, opens the stream with the token, waits
for the greeting, then says ``--turns`` utterances of real human speech (FSDD digits,
~1.5 s), each once the agent's answer has ended, then sends ``stop``. Marks are echoed on
arrival (the server paces in real time, so that is when they would have played).

Per number of calls: the worker's CPU (cores), outbound pacing jitter (|gap − 20 ms|
between consecutive paced agent frames of an answer, as received: the first frames of an
answer go out together by design, the sink's lead of ``CLOCKED_SINK_LEAD_MS``), response
overhead (the end of the caller's voice, where the last digit's recording ends and digital
silence begins → first agent frame received, minus the agent's 300 ms end-of-speech
silence; both ends dated to the sample within their frame; also from the last sample
louder than |500|, ``overhead_loud_ms``, close to the measure used before 2026-12-01,
which dated it to the end of its frame; the voice's faint tail outlasts it; and from the
frame that completes the end-of-speech silence, ``overhead_after_frame_ms``: no receiver
can know the silence has lasted 300 ms before the 20-ms frame holding its end has come,
which on this utterance is 11.1 ms after it, so that part is the line's, not the
worker's), lost
turns (no answer within 5 s), the worker's memory per call
(RSS at the busiest point minus before, / calls) and the client's own CPU (a saturated
client would make the figures lie). The client dates what it receives when its event loop
gets to it, so with tcpdump installed and as root the jitter and the overhead are also
read from a capture of the wire (``wire``: the kernel's timestamps on ``lo``, see
``_wire.py``; ``--no-wire`` skips it). Writes ``bench/results/telephony-<time>.json`` and
``telephony-latest.json``; prints one line per level.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx
import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

try:
    from uvloop import run as uvloop_run
except ImportError:  # not on Windows
    uvloop_run = None  # type: ignore[assignment]

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _server import REPO, Stack, bench_stack, free_port, terminate_on_sigterm
from _sip_caller import SipCaller, SipCallFailed
from _wire import Message, capture, unavailable, websocket_messages
from api import percentiles, process_cpu_s, run_header
from voxplane.media.g711 import ulaw_encode
from voxplane.media.wav import decode_wav
from voxplane.transports.base import CLOCKED_SINK_LEAD_MS
from voxplane.transports.twilio import signature

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
FSDD = REPO.parent / "shared" / "audio" / "fsdd"
SERVER_CORE, CLIENT_CORE = 0, 1
AUTH_TOKEN = secrets.token_urlsafe(24)
END_OF_SPEECH_MS = 300
LEAD_FRAMES = round(CLOCKED_SINK_LEAD_MS / 20)
"""Frames of an answer sent together with its first (the sink's lead), not paced."""
ANSWER_TIMEOUT_S = 5.0
ANSWER_END_S = 0.3
"""No agent audio for this long after some: the answer has ended."""
AGENT: dict[str, Any] = {
    "name": "bench-scripted",
    "stt": {"provider": "scripted", "transcripts": ["Four two seven one."]},
    "tts": {"provider": "scripted", "ms_per_word": 200},
    "turn": {"vad": "silero", "end_of_speech_ms": END_OF_SPEECH_MS},
    "brain": {"type": "scripted", "greeting": "Hello there.", "reply": "Okay, got it."},
}


@dataclass
class Utterance:
    """Caller speech as ready-made base64 μ-law 20 ms frames, and where the voice ends:
    its last sample (the recording's end; digital silence follows), and its last sample
    louder than |500|."""

    frames: list[str]
    speech_end_frame: int
    loud_end_frame: int
    speech_end_early_s: float
    loud_end_early_s: float
    """How long before the end of its frame (when the frame is sent) each one comes."""


def utterance() -> Utterance:
    parts = [np.zeros(1600, np.int16)]
    for i, digit in enumerate("4271"):
        samples, _ = decode_wav((FSDD / f"{digit}_jackson_{i}.wav").read_bytes())
        parts += [samples, np.zeros(1200, np.int16)]
    audio = np.concatenate(parts)
    voiced = np.flatnonzero(audio)
    loud = np.flatnonzero(np.abs(audio.astype(np.int32)) > 500)
    audio = np.concatenate([audio, np.zeros(160 - len(audio) % 160, np.int16)])
    frames = [
        base64.b64encode(ulaw_encode(audio[i : i + 160])).decode()
        for i in range(0, len(audio), 160)
    ]

    def early_s(last: int) -> float:
        return (160 - (last + 1) % 160) % 160 / 8000

    speech, louder = int(voiced[-1]), int(loud[-1])
    return Utterance(frames, speech // 160, louder // 160, early_s(speech), early_s(louder))


SILENCE = base64.b64encode(ulaw_encode(np.zeros(160, np.int16))).decode()


def silence_frames(speech_end_early_s: float) -> int:
    """How many frames after the one where the voice ends comes the frame that completes
    the end-of-speech silence (the voice ends ``speech_end_early_s`` before its frame's
    end; each frame is sent at its end)."""
    return math.ceil(round((END_OF_SPEECH_MS / 1000 - speech_end_early_s) / 0.02, 9))


def answer_measures(
    frames: list[float], voice_end: float, lead_frames: int = LEAD_FRAMES
) -> tuple[float, list[float]]:
    """One answer's response overhead (its first frame − the end of the caller's voice −
    the end-of-speech silence, ms) and pacing jitter (|gap − 20 ms| between its paced
    frames: over a media stream the first ``LEAD_FRAMES`` go out together by design, and a
    gap of 60 ms or more is a pause between sentences), from the times its frames arrived."""
    gaps = np.diff(frames[lead_frames:]) * 1000
    overhead = 1000 * (frames[0] - voice_end) - END_OF_SPEECH_MS
    return overhead, [abs(float(g) - 20) for g in gaps if g < 60]


@dataclass
class CallStats:
    overhead_ms: list[float] = field(default_factory=list)
    overhead_loud_ms: list[float] = field(default_factory=list)
    overhead_after_frame_ms: list[float] = field(default_factory=list)
    jitter_ms: list[float] = field(default_factory=list)
    lost_turns: int = 0
    failed: str | None = None
    webhook_ms: float | None = None
    connect_ms: float | None = None
    call_s: float = 0.0
    port: int = 0
    """The client's TCP port: its messages in a capture of the wire."""
    turn_ends: list[tuple[int, float]] = field(default_factory=list)
    """Per turn, the ``chunk`` of the frame where the caller's voice ends and how long
    before that frame's send the voice ended (as ``Utterance.speech_end_early_s``)."""
    completing: int = 0
    """The frame that completes the end-of-speech silence of the turn going on."""
    completed_at: float | None = None
    """When it was sent (loop time)."""

    def sent(self, chunk: int, at: float) -> float:
        """Frame ``chunk`` went out ``at``; returns ``at``."""
        if chunk == self.completing:
            self.completed_at = at
        return at


class Line(Protocol):
    """One caller's side of a call, whatever carries it: frames out on a 20-ms schedule,
    the arrival times of the agent's audio in."""

    arrivals: list[float]
    sent: int
    """Frames sent so far."""
    silence: Any
    """A frame of silence, in the line's own form."""

    async def send(self, frame: Any) -> float: ...


async def wait_answer(line: Line, heard: int) -> bool:
    """Send silence until an answer after the first ``heard`` frames of it has come and
    ended (no agent audio for ``ANSWER_END_S``); False if none came in ``ANSWER_TIMEOUT_S``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ANSWER_TIMEOUT_S
    while len(line.arrivals) <= heard:
        if loop.time() > deadline:
            return False
        await line.send(line.silence)
    while loop.time() - line.arrivals[-1] < ANSWER_END_S:
        await line.send(line.silence)
    return True


async def talk(
    line: Line, frames: list[Any], speech: Utterance, turns: int, stats: CallStats, *, lead: int
) -> None:
    """The greeting, then ``turns`` times: say ``frames`` (``speech``, in the line's own
    form) and wait for the answer to come and end. ``lead``: frames at the head of an
    answer that come together by design (not counted in the jitter)."""
    await wait_answer(line, 0)  # the greeting
    for _ in range(turns):
        speech_end = loud_end = 0.0
        stats.completed_at = None
        for index, frame in enumerate(frames):
            sent = await line.send(frame)
            if index == speech.speech_end_frame:
                early = speech.speech_end_early_s
                speech_end = sent - early
                stats.turn_ends.append((line.sent, early))
                stats.completing = line.sent + silence_frames(early)
            if index == speech.loud_end_frame:
                loud_end = sent - speech.loud_end_early_s
        heard = len(line.arrivals)
        if not await wait_answer(line, heard):
            stats.lost_turns += 1
            continue
        first = line.arrivals[heard]
        overhead, jitter = answer_measures(line.arrivals[heard:], speech_end, lead)
        stats.overhead_ms.append(overhead)
        stats.jitter_ms += jitter
        stats.overhead_loud_ms.append(1000 * (first - loud_end) - END_OF_SPEECH_MS)
        if stats.completed_at is not None:  # None: the answer came before the silence did
            stats.overhead_after_frame_ms.append(1000 * (first - stats.completed_at))


class Caller:
    """One call, Twilio's side, kept cheap: pre-encoded frames, media parsed by prefix."""

    def __init__(self, ws: ClientConnection, call_sid: str, speech: Utterance) -> None:
        self.ws = ws
        self.call_sid = call_sid
        self.sid = "MZ" + secrets.token_hex(16)
        self.speech = speech
        self.stats = CallStats()
        self.arrivals: list[float] = []
        self.sent = 0
        self.silence = SILENCE
        self.t0 = 0.0

    async def run(self, turns: int, parameters: dict[str, str]) -> CallStats:
        start = {
            "event": "start", "sequenceNumber": "1", "streamSid": self.sid,
            "start": {"streamSid": self.sid, "callSid": self.call_sid, "accountSid": "AC0",
                      "tracks": ["inbound"], "customParameters": parameters,
                      "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                      "channels": 1}},
        }  # fmt: skip
        await self.ws.send('{"event":"connected","protocol":"Call","version":"1.0.0"}')
        await self.ws.send(json.dumps(start))
        self.t0 = asyncio.get_running_loop().time()
        async with asyncio.TaskGroup() as group:
            receiver = group.create_task(self._receive())
            try:
                speech = self.speech
                await talk(self, speech.frames, speech, turns, self.stats, lead=LEAD_FRAMES)
            finally:
                receiver.cancel()
        await self.ws.send(json.dumps({"event": "stop", "streamSid": self.sid}))
        return self.stats

    async def send(self, frame: str) -> float:
        self.sent += 1
        loop = asyncio.get_running_loop()
        due = self.t0 + 0.02 * self.sent
        if due > loop.time():
            await asyncio.sleep(due - loop.time())
        await self.ws.send(
            f'{{"event":"media","streamSid":"{self.sid}","media":{{"track":"inbound",'
            f'"chunk":"{self.sent}","timestamp":"{20 * self.sent}","payload":"{frame}"}}}}'
        )
        return self.stats.sent(self.sent, loop.time())

    async def _receive(self) -> None:
        loop = asyncio.get_running_loop()
        async for text in self.ws:
            if text.startswith('{"event":"media"'):
                self.arrivals.append(loop.time())
            elif '"mark"' in str(text):
                mark = json.loads(text)["mark"]
                await self.ws.send(
                    json.dumps({"event": "mark", "streamSid": self.sid, "mark": mark})
                )


async def one_call(
    client: httpx.AsyncClient, stack: Stack, number: str, speech: Utterance, turns: int
) -> CallStats:
    form = {"AccountSid": "AC0", "CallSid": "CA" + secrets.token_hex(16), "From": "+14155550123",
            "To": number, "Direction": "inbound", "CallStatus": "ringing"}  # fmt: skip
    url = f"{stack.base_url}/v1/twilio/voice"
    headers = {"X-Twilio-Signature": signature.compute(AUTH_TOKEN, url, form.items())}
    loop = asyncio.get_running_loop()
    try:
        began = loop.time()
        answer = await client.post(url, data=form, headers=headers)
        webhook_ms = 1000 * (loop.time() - began)
        if "<Connect" not in answer.text:
            return CallStats(failed=f"webhook {answer.status_code}: {answer.text[:60]}")
        token = answer.text.split('name="token" value="')[1].split('"')[0]
        stream_url = stack.base_url.replace("http://", "ws://") + "/v1/twilio/stream"
        began = loop.time()
        async with connect(stream_url, max_size=2**20) as ws:
            caller = Caller(ws, form["CallSid"], speech)
            caller.stats.port = ws.local_address[1]
            caller.stats.webhook_ms = webhook_ms
            caller.stats.connect_ms = 1000 * (loop.time() - began)
            stats = await caller.run(turns, {"token": token})
            stats.call_s = loop.time() - began
            return stats
    except (httpx.HTTPError, ConnectionClosed, OSError) as error:
        return CallStats(failed=repr(error)[:80])


async def one_sip_call(
    sip_port: int, number: str, speech: Utterance, frames: list[bytes], turns: int
) -> CallStats:
    """One call from the bench's trunk: INVITE (``connect_ms``: to the 200 OK), the same
    conversation as over Twilio in RTP, BYE."""
    stats = CallStats()
    caller = SipCaller(sip_port, number, on_sent=stats.sent)
    loop = asyncio.get_running_loop()
    try:
        await caller.open()
        stats.port = caller.rtp_port
        began = loop.time()
        await caller.invite()
        stats.connect_ms = 1000 * (loop.time() - began)
        caller.t0 = loop.time()
        await talk(caller, frames, speech, turns, stats, lead=0)
        await caller.bye()
        stats.call_s = loop.time() - began
    except (SipCallFailed, OSError) as error:
        stats.failed = repr(error)[:80]
    finally:
        caller.close()
    return stats


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def on_the_wire(messages: list[Message], stats: list[CallStats]) -> dict[str, Any]:
    """Pacing jitter and response overhead from the kernel's timestamps (see ``_wire``):
    the caller's voice ends where the client's frame carrying its end went on the wire,
    less how early in that frame it ended; the answer is the server's media frames on the
    wire after it, up to the next turn's end. Measured as the client measures, but with
    neither side's event loop in the timing."""
    sent: dict[tuple[int, int], float] = {}
    out: dict[int, list[float]] = {}
    for message in messages:
        if not message.text.startswith(b'{"event":"media"'):
            continue
        if message.server_to_client:
            out.setdefault(message.client_port, []).append(message.at)
            continue
        at = message.text.find(b'"chunk":"') + 9
        chunk = int(message.text[at : message.text.index(b'"', at)])
        sent[(message.client_port, chunk)] = message.at
    overhead: list[float] = []
    after_frame: list[float] = []
    jitter: list[float] = []
    missing = 0
    for call in stats:
        ends = []
        for chunk, early_s in call.turn_ends:
            completing = (call.port, chunk + silence_frames(early_s))
            if (call.port, chunk) not in sent or completing not in sent:
                missing += 1
                continue
            ends.append((sent[(call.port, chunk)] - early_s, sent[completing]))
        frames = np.array(out.get(call.port, []))
        for k, (end, complete) in enumerate(ends):
            later = ends[k + 1][0] if k + 1 < len(ends) else np.inf
            answer = frames[(frames > end) & (frames < later)]
            if not len(answer):
                continue
            answered, paced = answer_measures(list(answer), end)
            overhead.append(answered)
            after_frame.append(1000 * (answer[0] - complete))
            jitter += paced
    return {
        "pacing_jitter_ms": percentiles(jitter, 50, 99, 100),
        "overhead_ms": percentiles(overhead, 50, 99),
        "overhead_after_frame_ms": percentiles(after_frame, 50, 99),
        "turns": len(overhead),
        "turn_ends_not_seen": missing,
    }


async def level(
    stack: Stack, number: str, calls: int, turns: int, transport: str, *, wire: bool
) -> dict[str, Any]:
    """One level: ``calls`` concurrent calls over ``transport``; the wire is read for media
    streams only (RTP arrivals are dated by the client alone)."""
    port = int(stack.base_url.rsplit(":", 1)[1])
    if not wire or transport == "sip":
        return (await _level(stack, number, calls, turns, transport))[0]
    with tempfile.TemporaryDirectory() as folder:
        with capture(Path(folder) / "level.pcap", port) as taken:
            result, stats = await _level(stack, number, calls, turns, transport)
        messages, broken = websocket_messages(taken.path, port)
    result["wire"] = {
        **on_the_wire(messages, stats),
        "packets_dropped": taken.dropped,
        "streams_not_followed": broken,
    }
    return result


async def _level(
    stack: Stack, number: str, calls: int, turns: int, transport: str
) -> tuple[dict[str, Any], list[CallStats]]:
    speech = utterance()
    sip_port = int(stack.env["VOXPLANE_SIP_PORT"])
    rtp_frames = [base64.b64decode(frame) for frame in speech.frames]
    baseline = rss_kb(stack.pid)
    peak = baseline
    limits = httpx.Limits(max_connections=calls, max_keepalive_connections=calls)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def staggered(i: int) -> CallStats:
            await asyncio.sleep(2.0 * i / calls)
            if transport == "sip":
                return await one_sip_call(sip_port, number, speech, rtp_frames, turns)
            return await one_call(client, stack, number, speech, turns)

        started, cpu0, client0 = time.perf_counter(), process_cpu_s(stack.pid), time.process_time()
        tasks = [asyncio.create_task(staggered(i)) for i in range(calls)]
        while not all(t.done() for t in tasks):
            peak = max(peak, rss_kb(stack.pid))
            await asyncio.wait(tasks, timeout=0.5)
        wall = time.perf_counter() - started
        cpu, client_cpu = process_cpu_s(stack.pid) - cpu0, time.process_time() - client0
    stats = [t.result() for t in tasks]
    overhead = [v for s in stats for v in s.overhead_ms]
    jitter = [v for s in stats for v in s.jitter_ms]
    failed = [s.failed for s in stats if s.failed]
    return {
        "transport": transport,
        "calls": calls,
        "wall_s": round(wall, 1),
        "worker_cores": round(cpu / wall, 3),
        "worker_ms_per_call_s": round(1000 * cpu / max(1e-9, sum(s.call_s for s in stats)), 2),
        "client_cores": round(client_cpu / wall, 3),
        "pacing_jitter_ms": percentiles(jitter, 50, 99, 100),
        "overhead_ms": percentiles(overhead, 50, 99),
        "overhead_loud_ms": percentiles([v for s in stats for v in s.overhead_loud_ms], 50, 99),
        "overhead_after_frame_ms": percentiles(
            [v for s in stats for v in s.overhead_after_frame_ms], 50, 99
        ),
        "silence_frame_wait_ms": round(
            20 * silence_frames(speech.speech_end_early_s)
            - (END_OF_SPEECH_MS - 1000 * speech.speech_end_early_s),
            3,
        ),
        "turns": len(overhead),
        "lost_turns": sum(s.lost_turns for s in stats),
        "failed_calls": len(failed),
        "failures": failed[:5],
        "memory_per_call_kb": round((peak - baseline) / calls),
        "webhook_ms": percentiles([s.webhook_ms for s in stats if s.webhook_ms], 50, 99),
        "ws_connect_ms": percentiles([s.connect_ms for s in stats if s.connect_ms], 50, 99),
    }, stats


def setup(stack: Stack) -> str:
    auth = {"Authorization": f"Bearer {stack.api_key}"}
    agent = httpx.post(f"{stack.base_url}/v1/agents", json=AGENT, headers=auth).json()
    number = "+15550142"
    httpx.post(
        f"{stack.base_url}/v1/phone-numbers", json={"number": number, "agent_id": agent["id"]},
        headers=auth,
    ).raise_for_status()  # fmt: skip
    httpx.post(
        f"{stack.base_url}/v1/credentials",
        json={"name": "twilio", "provider": "twilio", "secret": AUTH_TOKEN}, headers=auth,
    ).raise_for_status()  # fmt: skip
    httpx.post(
        f"{stack.base_url}/v1/sip-trunks",
        json={"name": "bench", "inbound_addresses": ["127.0.0.1/32"]}, headers=auth,
    ).raise_for_status()  # fmt: skip
    return number


def bench(args: argparse.Namespace) -> dict[str, Any]:
    os.sched_setaffinity(0, {CLIENT_CORE})
    if args.priority:
        os.setpriority(os.PRIO_PROCESS, 0, -args.priority)
    report: dict[str, Any] = {
        **run_header("telephony"),
        "settings": {
            "calls": args.calls,
            "turns": args.turns,
            "transports": args.transport,
            "priority": args.priority,
            "agent": AGENT,
        },
        "wire_unavailable": "--no-wire" if args.no_wire else unavailable(),
        "levels": [],
    }
    env = {
        "VOXPLANE_DEFAULT_MAX_CONCURRENT_CALLS": "100000",
        "VOXPLANE_MAX_CALLS": "10000",  # scripted providers: not the local models' capacity
        "VOXPLANE_LOG_LEVEL": "warning",
        "VOXPLANE_SIP_PORT": str(free_port(socket.SOCK_DGRAM)) if "sip" in args.transport else "0",
    }
    if args.probe:
        folder = RESULTS / f"probes-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"
        folder.mkdir(parents=True, exist_ok=True)
        paths = [str(BENCH / "probes"), *filter(None, [os.environ.get("PYTHONPATH")])]
        os.environ.update(
            PYTHONPATH=os.pathsep.join(paths),
            VOXPLANE_PROBES=args.probe,
            VOXPLANE_PROBE_DIR=str(folder),
        )
        report["probes"] = {"probes": args.probe, "folder": str(folder)}
    with bench_stack(server_core=SERVER_CORE, priority=args.priority, extra_env=env) as stack:
        number = setup(stack)
        run = uvloop_run or asyncio.run
        for transport in args.transport:  # warm up: the VAD model loads on the first call
            run(level(stack, number, 1, 1, transport, wire=False))
        profiler = _profiler(args.profile, stack.pid) if args.profile else None
        wire = report["wire_unavailable"] is None
        for transport, calls in itertools.product(args.transport, args.calls):
            result = run(level(stack, number, calls, args.turns, transport, wire=wire))
            report["levels"].append(result)
            print(
                f"{transport:>6} {calls:4d} calls: worker {result['worker_cores']:.2f} cores "
                f"({result['worker_ms_per_call_s']} ms per call-second), "
                f"jitter p99 {result['pacing_jitter_ms']['p99']} ms, overhead p50/p99 "
                f"{result['overhead_ms']['p50']}/{result['overhead_ms']['p99']} ms "
                f"(from the last loud sample {result['overhead_loud_ms']['p50']}/"
                f"{result['overhead_loud_ms']['p99']}; from the frame completing the silence, "
                f"{result['silence_frame_wait_ms']} ms after it, "
                f"{result['overhead_after_frame_ms']['p50']}/"
                f"{result['overhead_after_frame_ms']['p99']}), "
                f"lost {result['lost_turns']}/{result['turns'] + result['lost_turns']}, "
                f"failed {result['failed_calls']}, {result['memory_per_call_kb']} KB/call, "
                f"client {result['client_cores']:.2f} cores",
                flush=True,
            )
            if wire := result.get("wire"):
                print(
                    f"      on the wire: jitter p99 {wire['pacing_jitter_ms']['p99']} ms, "
                    f"overhead p50/p99 {wire['overhead_ms']['p50']}/{wire['overhead_ms']['p99']} "
                    f"ms (after the completing frame {wire['overhead_after_frame_ms']['p50']}/"
                    f"{wire['overhead_after_frame_ms']['p99']}; {wire['turns']} turns; "
                    f"packets dropped {wire['packets_dropped']}, "
                    f"streams not followed {wire['streams_not_followed']})",
                    flush=True,
                )
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(timeout=30)
    return report


def _profiler(path: str, pid: int) -> subprocess.Popen[bytes]:
    """py-spy (a dev tool: ``pip install py-spy``, needs ptrace) sampling the worker during
    the levels, collapsed stacks written to ``path`` when it is interrupted. It stops the
    worker for each sample (100 a second): sampled running (``--nonblocking``), stacks come
    back cut short, and a third of the time lands on the event loop itself."""
    py_spy = Path(sys.executable).with_name("py-spy")
    command = [str(py_spy), "record", "-p", str(pid), "-r", "100", "-f", "raw", "-o", path]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 and 50 calls, 2 turns")
    parser.add_argument("--calls", type=int, nargs="+", default=[10, 50, 100, 200])
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument(
        "--transport",
        nargs="+",
        choices=["twilio", "sip"],
        default=["twilio", "sip"],
        help="Twilio Media Streams (a websocket) and/or SIP/RTP from a trunk (UDP)",
    )
    parser.add_argument(
        "--priority",
        type=int,
        default=0,
        help="renice the server and this client by -N (root): a shared machine starves them",
    )
    parser.add_argument(
        "--no-wire",
        action="store_true",
        help="no tcpdump capture (by default, as root with tcpdump installed, jitter and "
        "overhead are also read from the kernel's timestamps on lo)",
    )
    parser.add_argument(
        "--probe",
        metavar="NAMES",
        help="probes in the server, comma-separated: gc, gc-off, ort, lag "
        "(bench/probes/sitecustomize.py; lines under bench/results/probes-<time>/)",
    )
    parser.add_argument(
        "--profile", metavar="FILE", help="py-spy the worker during the levels (collapsed stacks)"
    )
    args = parser.parse_args()
    if args.quick:
        args.calls, args.turns = [10, 50], 2
    if not FSDD.is_dir():
        print(
            f"{FSDD} is missing: the caller speech comes from ../shared/audio/fsdd", file=sys.stderr
        )
        return 2
    terminate_on_sigterm()
    report = bench(args)
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    for name in (f"telephony-{stamp}.json", "telephony-latest.json"):
        (RESULTS / name).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
