"""WebRTC calls: what the WebRTC path adds to voice-to-voice, and what a call costs.

``python bench/webrtc.py [--quick] [--rounds N] [--models N] [--concurrency 1 4 8]
[--call-s S]``

ONE ``voxplane serve`` (PostgreSQL, Redis; ICE on 127.0.0.1) runs pinned to core 0; this
process, pinned to core 1, is the callers (aiortc, no browser).

1. **voice-to-voice**: the nine questions of ``./dev call``
   (``examples/audio/acme-caller-*.wav``), each said once the agent has finished, to the
   same agent through ``voxplane talk`` (the simulated caller, 16 kHz, its own process
   pinned to core 0) and through a WebRTC call to the server, alternated for ``--rounds``.
   The agent is scripted (energy VAD, fixed transcript and reply, presynthesized audio), so
   the transports are all that differs; ``--models N`` adds N pairs with the real
   ``acme-dental`` agent (Whisper, Piper, Silero: on a busy machine, model time swamps
   what is measured). Both report
   ``voice_to_voice_ms`` the same way, server-side: end of caller speech (the VAD, dated
   when its audio arrived) → first agent frame handed to the transport. The WebRTC side
   also reports what the caller measured: its speech end → the first loud agent frame it
   received (both directions of the network, Opus, jitter buffers).
2. **concurrency**, scripted providers (no model work: what is left is the platform and
   aiortc): N WebRTC calls at once for ``--call-s`` seconds, a real FSDD digit said after
   each answer. Server CPU (utime+stime of its process) per call, server-side v2v, calls
   that failed. For the cost of aiortc itself, the same N calls of the same agent run over
   the simulated caller in one process pinned to core 0 (``--baseline``): the difference
   per call is what WebRTC (Opus both ways, SRTP, ICE, DTLS, SCTP) costs.

Writes ``bench/results/webrtc-<time>.json`` and ``webrtc-latest.json``; prints a summary.
The machine is shared: other work on it shows up as noise, reported with each figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _server import REPO, VOXPLANE, Stack, bench_stack, terminate_on_sigterm
from voxplane.media.wav import decode_wav
from voxplane.testing.webrtc_caller import Utterance, WebRtcCaller
from voxplane.transports.webrtc.ice import gather_on

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
AGENT = REPO / "examples" / "agents" / "acme-dental.yaml"
QUESTIONS = sorted((REPO / "examples" / "audio").glob("acme-caller-*.wav"))
FSDD = REPO.parent / "shared" / "audio" / "fsdd"
SERVER_CORE, CLIENT_CORE = 0, 1
TARGET_ADDED_P50_MS = 60
SCRIPTED_TALK: dict[str, Any] = {
    "name": "bench-scripted-talk",
    "stt": {"provider": "scripted", "transcripts": ["What are your opening hours?"]},
    "tts": {"provider": "scripted", "ms_per_word": 150},
    "turn": {"vad": "energy"},
    "brain": {"type": "scripted", "greeting": "Thank you for calling.", "reply": "We are open."},
}
"""The voice-to-voice comparison without model work: only the transports differ."""
SCRIPTED: dict[str, Any] = {
    "name": "bench-scripted",
    "stt": {"provider": "scripted", "transcripts": ["Seven."]},
    "tts": {"provider": "scripted", "ms_per_word": 150},
    "turn": {"vad": "energy"},
    "brain": {"type": "scripted", "greeting": "Hello there.", "reply": "You said a digit."},
}


def p(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def summary(values: Sequence[float]) -> dict[str, Any]:
    return {"n": len(values), "p50": p(values, 0.5), "p95": p(values, 0.95), "max": p(values, 1)}


def cpu_s(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> float:
    """The 1-minute load average: how much else the shared machine is doing."""
    return os.getloadavg()[0]


# --- calls ---------------------------------------------------------------------------


class Server:
    def __init__(self, stack: Stack, http: httpx.AsyncClient) -> None:
        self.stack = stack
        self.http = http
        self.auth = {"Authorization": f"Bearer {stack.api_key}"}
        self.idle_share = 0.0

    async def measure_idle(self, seconds: float = 3.0) -> float:
        """The server's CPU share with no call (what each phase subtracts)."""
        cpu0, wall0 = cpu_s(self.stack.pid), time.monotonic()
        await asyncio.sleep(seconds)
        return (cpu_s(self.stack.pid) - cpu0) / (time.monotonic() - wall0)

    async def agent(self, document: dict[str, Any]) -> str:
        made = await self.http.post("/v1/agents", json=document, headers=self.auth)
        made.raise_for_status()
        return str(made.json()["id"])

    async def call(self, agent_id: str, caller: WebRtcCaller) -> str:
        token = await self.http.post(
            "/v1/webrtc/tokens", json={"agent_id": agent_id}, headers=self.auth
        )
        token.raise_for_status()
        answer = await self.http.post(
            "/v1/webrtc/calls",
            json={"sdp": await caller.offer(), "type": "offer"},
            headers={"Authorization": f"Bearer {token.json()['token']}"},
            timeout=60,
        )
        answer.raise_for_status()
        await caller.accept(answer.json()["sdp"])
        return str(answer.json()["call_id"])


async def converse(server: Server, agent_id: str, caller: WebRtcCaller, turns: int,
                   limit_s: float) -> dict[str, Any]:  # fmt: skip
    """One call: until ``turns`` answers were measured (or ``limit_s``), then hang up."""
    try:
        await server.call(agent_id, caller)
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            if sum(m["type"] == "metrics" for m in caller.messages) >= turns:
                break
            await asyncio.sleep(0.1)
        if not caller.ended:
            caller.send('{"type": "hangup"}')
        await caller.wait_ended(timeout_s=10)
        failed = None
    except Exception as error:  # reported, not raised: one failed call is a figure
        failed = repr(error)
    finally:
        await caller.aclose()
    server_v2v = [m["voice_to_voice_ms"] for m in caller.messages if m["type"] == "metrics"]
    client_v2v = []
    for ended in caller.speech_ended_at:
        heard = caller.first_heard_after(ended)
        if heard is not None:
            client_v2v.append(1000 * (heard - ended))
    return {"server_v2v": server_v2v, "client_v2v": client_v2v, "failed": failed}


def talk_v2v(agent: dict[str, Any]) -> list[float]:
    """``voxplane talk`` on the nine questions, pinned to the server's core."""
    with tempfile.TemporaryDirectory() as tmp:
        out, agent_file = Path(tmp) / "talk.json", Path(tmp) / "agent.yaml"
        agent_file.write_text(yaml.safe_dump(agent))
        inputs = [arg for q in QUESTIONS for arg in ("--input", str(q))]
        subprocess.run(
            ["taskset", "-c", str(SERVER_CORE), str(VOXPLANE), "talk", "--agent",
             str(agent_file), *inputs, "--json", str(out)],
            check=True, capture_output=True,
        )  # fmt: skip
        document = json.loads(out.read_text())
    return [m["voice_to_voice_ms"] for m in document["metrics"]]


async def voice_to_voice(server: Server, agent: dict[str, Any], rounds: int) -> dict[str, Any]:
    """``rounds`` pairs of the same call: ``voxplane talk``, then over WebRTC."""
    agent_id = await server.agent(agent)
    questions = [Utterance(None, *decode_wav(q.read_bytes())) for q in QUESTIONS]
    talk: list[float] = []
    web: dict[str, list[float]] = {"server_v2v": [], "client_v2v": []}
    failures = []
    for _ in range(rounds):
        talk += await asyncio.to_thread(talk_v2v, agent)
        result = await converse(server, agent_id, WebRtcCaller(questions), len(questions), 240)
        web["server_v2v"] += result["server_v2v"]
        web["client_v2v"] += result["client_v2v"]
        if result["failed"]:
            failures.append(result["failed"])
    added = None
    if talk and web["server_v2v"]:
        added = round(statistics.median(web["server_v2v"]) - statistics.median(talk), 1)
    return {
        "talk_v2v_ms": summary(talk),
        "webrtc_server_v2v_ms": summary(web["server_v2v"]),
        "webrtc_client_v2v_ms": summary(web["client_v2v"]),
        "webrtc_added_p50_ms": added,
        "target_added_p50_ms": TARGET_ADDED_P50_MS,
        "failures": failures,
        "load_average_1m": machine_busy(),
    }


def digits() -> list[Utterance]:
    takes = sorted(FSDD.glob("*_jackson_*.wav"))[:10]
    return [Utterance(None, *decode_wav(t.read_bytes())) for t in takes]


async def concurrent(server: Server, n: int, call_s: float) -> dict[str, Any]:
    agent_id = await server.agent(SCRIPTED)
    speech = digits()
    callers = [WebRtcCaller(speech * 10) for _ in range(n)]

    async def one(index: int, caller: WebRtcCaller) -> dict[str, Any]:
        await asyncio.sleep(index / max(1, n))  # starts spread over a second
        return await converse(server, agent_id, caller, 10_000, call_s)

    tasks = [asyncio.ensure_future(one(i, c)) for i, c in enumerate(callers)]
    await asyncio.sleep(2.0)  # every call set up: measure the steady state
    cpu0, wall0 = cpu_s(server.stack.pid), time.monotonic()
    await asyncio.sleep(max(1.0, call_s - 3.0))
    cpu1, wall1 = cpu_s(server.stack.pid), time.monotonic()
    results = await asyncio.gather(*tasks)
    share = (cpu1 - cpu0) / (wall1 - wall0) - server.idle_share
    v2v = [ms for r in results for ms in r["server_v2v"]]
    ran = sum(1 for r in results if r["server_v2v"])
    return {
        "calls": n,
        "calls_answered": ran,
        "failed": [r["failed"] for r in results if r["failed"]],
        "server_cpu_share": round(share, 3),
        "server_cpu_ms_per_call_s": round(1000 * share / max(1, ran), 2),
        "server_v2v_ms": summary(v2v),
        "load_average_1m": machine_busy(),
    }


def baseline(n: int, call_s: float) -> dict[str, Any]:
    """The same scripted calls over the simulated caller, in a process on core 0."""
    done = subprocess.run(
        ["taskset", "-c", str(SERVER_CORE), sys.executable, __file__, "--baseline", str(n),
         "--call-s", str(call_s)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(done.stdout)
    return result


async def run_baseline(n: int, call_s: float) -> dict[str, Any]:
    from voxplane.agents.schema import AgentConfig
    from voxplane.runtime.local import run_call
    from voxplane.transports.simulated import CallerTurn, SimulatedCaller

    agent = AgentConfig.model_validate(SCRIPTED)
    turns = [CallerTurn(u.samples, u.sample_rate) for u in digits()] * 10

    async def one() -> None:
        caller = SimulatedCaller(turns)
        call = asyncio.ensure_future(run_call(agent, None, caller))  # type: ignore[arg-type]
        await asyncio.sleep(call_s)
        await caller.hang_up()
        await call

    calls = [asyncio.ensure_future(one()) for _ in range(n)]
    await asyncio.sleep(2.0)
    cpu0, wall0 = time.process_time(), time.monotonic()
    await asyncio.sleep(max(1.0, call_s - 3.0))
    cpu1, wall1 = time.process_time(), time.monotonic()
    await asyncio.gather(*calls)
    share = (cpu1 - cpu0) / (wall1 - wall0)
    return {"calls": n, "cpu_ms_per_call_s": round(1000 * share / n, 2)}


# --- main ----------------------------------------------------------------------------


async def phases(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    gather_on(["127.0.0.1"])
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        server = Server(stack, http)
        v2v = {"scripted": await voice_to_voice(server, SCRIPTED_TALK, args.rounds)}
        if args.models:
            models = yaml.safe_load(AGENT.read_text())
            v2v["models"] = await voice_to_voice(server, models, args.models)
        load = []
        idle_before = server.idle_share = await server.measure_idle()
        for n in args.concurrency:
            row = await concurrent(server, n, args.call_s)
            base = await asyncio.to_thread(baseline, n, args.call_s)
            row["simulated_cpu_ms_per_call_s"] = base["cpu_ms_per_call_s"]
            row["webrtc_cpu_ms_per_call_s"] = round(
                row["server_cpu_ms_per_call_s"] - base["cpu_ms_per_call_s"], 2
            )
            row["calls_per_core"] = int(1000 / max(0.01, row["server_cpu_ms_per_call_s"]))
            load.append(row)
            print(f"webrtc: {n} calls: {row}", file=sys.stderr)
        await asyncio.sleep(2.0)
        idle_after = await server.measure_idle()
    idle = {"before": round(idle_before, 4), "after_all_calls": round(idle_after, 4)}
    return {"voice_to_voice": v2v, "server_idle_cpu_share": idle, "concurrency": load}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round, 1 and 4 calls, 12 s")
    parser.add_argument("--rounds", type=int, default=2, help="talk + WebRTC pairs, scripted")
    parser.add_argument(
        "--models", type=int, default=0, metavar="N", help="also N pairs on the real models"
    )
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--call-s", type=float, default=20.0)
    parser.add_argument("--baseline", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline:
        print(json.dumps(asyncio.run(run_baseline(args.baseline, args.call_s))))
        return 0
    if args.quick:
        args.rounds, args.concurrency, args.call_s = 1, [1, 4], 12.0
    terminate_on_sigterm()
    os.sched_setaffinity(0, {CLIENT_CORE})
    started = datetime.now(UTC)
    env = {
        "VOXPLANE_WEBRTC_ICE_ADDRESSES": '["127.0.0.1"]',
        "VOXPLANE_LOG_LEVEL": "error",
        "VOXPLANE_DEFAULT_MAX_CONCURRENT_CALLS": "1000",  # the bench tenant's call slots
        "VOXPLANE_MAX_CALLS": "1000",  # scripted providers: not the local models' capacity
    }
    with bench_stack(server_core=SERVER_CORE, extra_env=env) as stack:
        results = asyncio.run(phases(stack, args))
    document = {
        "bench": "webrtc",
        "started_at": started.isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "note": "shared with other work; see load_average_1m per phase"},
        "args": {k: v for k, v in vars(args).items() if k != "baseline"},
        **results,
    }  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    stamp = started.strftime("%Y%m%d-%H%M%S")
    for name in (f"webrtc-{stamp}.json", "webrtc-latest.json"):
        (RESULTS / name).write_text(json.dumps(document, indent=2) + "\n")
    v2v = results["voice_to_voice"]["scripted"]
    print(
        f"webrtc: v2v p50 (scripted) talk {v2v['talk_v2v_ms']['p50']} ms, "
        f"WebRTC {v2v['webrtc_server_v2v_ms']['p50']} ms server-side "
        f"(+{v2v['webrtc_added_p50_ms']} ms, target ≤ {TARGET_ADDED_P50_MS}); "
        + "; ".join(
            f"{r['calls']} calls: {r['server_cpu_ms_per_call_s']} ms CPU/s per call "
            f"(aiortc {r['webrtc_cpu_ms_per_call_s']})"
            for r in results["concurrency"]
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
