"""Control-plane API throughput: authenticated agent reads and call-record writes.

``.venv/bin/python bench/api.py [--quick] [--seconds N] [--concurrency 50] [--priority N]
[--no-wrk]``

A fresh PostgreSQL database (dropped at the end) gets the schema, one tenant and the
``acme-dental`` agent; ONE ``voxplane serve`` process runs pinned to core 0 with limits in
Redis; this process, pinned to core 1, drives it with 50 concurrent keep-alive HTTP/1.1
connections: a warmup, then ``GET /v1/agents/{id}`` for N seconds, then ``POST /v1/calls``
(a 10-turn call record with per-turn metrics) for N seconds. The load comes from a minimal
asyncio client (``_http.py``): httpx cannot load a server past ~1,300 requests/s from one
core, which a third phase, reads through one httpx pool of 50, shows. When ``wrk`` is
installed, both loads run once more from it as a check on the client.

Per phase: requests, errors by status, requests/s, latency p50/p95/p99, the rate-limit
decision's p50/p99 as the server timed it (``Server-Timing: ratelimit;dur=``), and CPU:
the client's, the server's (also per request) and the rest of the machine's (PostgreSQL,
Redis, anything else running). Writes ``bench/results/api-<time>.json`` and
``api-latest.json``; prints one summary line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

try:
    from uvloop import run as uvloop_run
except ImportError:  # not on Windows
    uvloop_run = None  # type: ignore[assignment]

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _http import Connection, build_request
from _server import PG_HOST, REDIS_URL, REPO, Stack, bench_stack, terminate_on_sigterm
from _wrk import WrkRun, run_wrk

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
AGENT = REPO / "examples" / "agents" / "acme-dental.yaml"
SERVER_CORE, CLIENT_CORE = 0, 1
TARGET_READS_PER_S = 1500
TARGET_RATELIMIT_P99_MS = 2.0
PACED_FRACTIONS = (0.5, 0.25)
"""The paced read phases offer these fractions of the rate the saturated one reached."""
DEFAULT_PACE = 12.0
"""Reads per second for the tenant on the default limits (1000/minute: 16.7/s refill)."""
DEFAULT_CONNECTIONS = 4
_SERVER_TIMING = re.compile(r"ratelimit;dur=([0-9.]+)")
_TICK = os.sysconf("SC_CLK_TCK")


def pct(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (rank - low), 3)


def percentiles(values: Sequence[float], *qs: float) -> dict[str, float | None]:
    return {("max" if q == 100 else f"p{q:g}"): pct(values, q) for q in qs}


# --- CPU accounting -----------------------------------------------------------------


def process_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime


def cores_busy_s() -> dict[str, float]:
    """Busy seconds per core since boot (everything but idle and iowait)."""
    busy: dict[str, float] = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *ticks = line.split()
        if name.startswith("cpu") and name != "cpu":
            values = [int(t) for t in ticks]
            busy[name[3:]] = (sum(values[:8]) - values[3] - values[4]) / _TICK
    return busy


def background_load(seconds: float = 2.0) -> float:
    """Cores kept busy by others before the bench starts: a shared machine skews results."""
    before = cores_busy_s()
    time.sleep(seconds)
    after = cores_busy_s()
    return round(sum(after[c] - before[c] for c in after) / seconds, 2)


@dataclass
class CpuMeter:
    """CPU used between ``start`` and ``stop`` by the client, the server and the machine."""

    server_pid: int
    marks: dict[str, Any] = field(default_factory=dict)

    def _read(self) -> dict[str, Any]:
        return {
            "wall": time.perf_counter(),
            "client": time.process_time(),
            "server": process_cpu_s(self.server_pid),
            "cores": cores_busy_s(),
        }

    def start(self) -> None:
        self.marks = self._read()

    def stop(self, requests: int) -> dict[str, Any]:
        end, start = self._read(), self.marks
        wall = end["wall"] - start["wall"]
        cores = {c: (end["cores"][c] - start["cores"][c]) / wall for c in end["cores"]}
        client = (end["client"] - start["client"]) / wall
        server = (end["server"] - start["server"]) / wall
        per_request = 1000 * wall / max(1, requests)
        return {
            "client_cores": round(client, 3),
            "server_cores": round(server, 3),
            "other_cores": round(max(0.0, sum(cores.values()) - client - server), 3),
            "busy_per_core": {c: round(v, 3) for c, v in cores.items()},
            "client_ms_per_request": round(client * per_request, 3),
            "server_ms_per_request": round(server * per_request, 3),
        }


# --- the load -----------------------------------------------------------------------

Send = Callable[[], Awaitable[tuple[int, str | None]]]
"""One request on one worker's connection: its status and ``Server-Timing`` header."""


@dataclass
class Tally:
    latency_ms: list[float] = field(default_factory=list)
    ratelimit_ms: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)


async def _worker(send: Send, until: float, tally: Tally, interval: float) -> None:
    """Send back to back, or one request every ``interval`` seconds when it is not 0."""
    clock = time.perf_counter
    due = clock() + random.uniform(0, interval)  # workers spread over one interval
    while clock() < until:
        if interval:
            await asyncio.sleep(max(0.0, due - clock()))
            due += interval
        started = clock()
        try:
            status, timing = await send()
        except (OSError, httpx.HTTPError) as error:
            tally.statuses[f"exception:{type(error).__name__}"] += 1
            continue
        tally.latency_ms.append(1000 * (clock() - started))
        tally.statuses[str(status)] += 1
        found = _SERVER_TIMING.search(timing or "")
        if found is not None:
            tally.ratelimit_ms.append(float(found.group(1)))


async def run_phase(
    senders: Sequence[Send], seconds: float, meter: CpuMeter, rate: float = 0.0
) -> dict[str, Any]:
    """One worker per sender, sending for ``seconds``: back to back, or together ``rate``
    requests per second when it is given."""
    tally = Tally()
    interval = len(senders) / rate if rate else 0.0
    meter.start()
    started = time.perf_counter()
    until = started + seconds
    await asyncio.gather(*(_worker(send, until, tally, interval) for send in senders))
    wall = time.perf_counter() - started
    done = sum(tally.statuses.values())
    ok = sum(n for s, n in tally.statuses.items() if s.startswith("2"))
    return {
        "seconds": round(wall, 2),
        "requests": done,
        "ok": ok,
        "errors": {s: n for s, n in sorted(tally.statuses.items()) if not s.startswith("2")},
        "req_per_s": round(ok / wall, 1),
        "latency_ms": percentiles(tally.latency_ms, 50, 95, 99),
        "ratelimit_ms": percentiles(tally.ratelimit_ms, 50, 99, 100),
        "cpu": meter.stop(done),
    }


def raw_senders(stack: Stack, request: bytes, concurrency: int) -> list[Send]:
    """``concurrency`` keep-alive connections of the minimal client, each with one worker."""
    host, port = stack.base_url.removeprefix("http://").rsplit(":", 1)
    senders: list[Send] = []
    for _ in range(concurrency):
        connection = Connection(host, int(port))

        async def send(c: Connection = connection) -> tuple[int, str | None]:
            reply = await c.send(request)
            return reply.status, reply.server_timing

        senders.append(send)
    return senders


def httpx_senders(client: httpx.AsyncClient, path: str, concurrency: int) -> list[Send]:
    """``concurrency`` workers sharing one httpx pool of as many connections."""

    async def send() -> tuple[int, str | None]:
        response = await client.get(path)
        return response.status_code, response.headers.get("server-timing")

    return [send] * concurrency


def call_record(agent_id: str) -> bytes:
    """A finished 10-turn call as the runtime reports it: transcript, usage, latencies."""
    start = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    lines = [
        ("agent", "Thank you for calling Acme Dental, this is the virtual receptionist."),
        ("user", "Hi, I'd like to book a cleaning for next week please."),
        ("agent", "Sure. Are you a new patient or have you been with us before?"),
        ("user", "I've been there before, my last visit was in the spring."),
        ("agent", "Great. Which day works best for you, Tuesday or Thursday?"),
        ("user", "Thursday afternoon if possible."),
        ("agent", "I have Thursday at two thirty or at four. Which would you like?"),
        ("user", "Two thirty is perfect."),
        ("agent", "You're booked for Thursday at two thirty. Anything else?"),
        ("user", "No, that's all, thanks. Bye."),
    ]
    turns: list[dict[str, Any]] = []
    metrics: list[dict[str, Any]] = []
    at = 0
    for i, (role, text) in enumerate(lines):
        length = 1200 + 60 * len(text)
        turns.append({"role": role, "text": text, "start_ms": at, "end_ms": at + length})
        if role == "user":
            latency = {"stt_ms": 180, "brain_ms": 40, "tts_ms": 90, "voice_to_voice_ms": 460 + i}
            metrics.append({"turn": i, **latency})
        at += length + 400
    body = {
        "agent_id": agent_id,
        "direction": "inbound",
        "transport": "twilio",
        "from_number": "+15555550142",
        "to_number": "+15555550100",
        "started_at": start.isoformat(),
        "ended_at": (start + timedelta(milliseconds=at)).isoformat(),
        "end_reason": "caller_hangup",
        "usage": {"audio_s": at / 1000, "stt_s": at / 2000, "tts_chars": 420, "llm_tokens": 0},
        "turns": turns,
        "metrics": metrics,
    }
    return json.dumps(body).encode()


# --- the run ------------------------------------------------------------------------


def _git() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=False
        ).stdout

    return {
        "commit": git("rev-parse", "HEAD").strip(),
        "src_dirty": bool(git("status", "-s", "src")),
    }


def run_header(bench: str) -> dict[str, Any]:
    """What a result file starts with: the bench, when it started, the command that ran it,
    the tree and the machine."""
    return {
        "bench": bench,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([".venv/bin/python", f"bench/{bench}.py", *sys.argv[1:]]),
        "git": _git(),
        "machine": _machine(),
    }


def _machine() -> dict[str, Any]:
    model = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model.group(1) if model else None,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "busy_cores_before": background_load(),
    }


async def _versions() -> dict[str, str]:
    import asyncpg
    import redis.asyncio

    connection = await asyncpg.connect(f"{PG_HOST}/postgres")
    try:
        postgres = str(await connection.fetchval("SHOW server_version"))
    finally:
        await connection.close()
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        info = await client.info("server")
    finally:
        await client.aclose()
    return {"postgresql": postgres, "redis": str(info["redis_version"]), "httpx": httpx.__version__}


async def import_agent(stack: Stack, api_key: str) -> str:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30.0) as client:
        imported = await client.post(
            "/v1/agents/import",
            content=AGENT.read_bytes(),
            headers={
                "Authorization": f"Bearer {api_key}",
                "Content-Type": "application/yaml",
            },
        )
    imported.raise_for_status()
    agent_id: str = imported.json()["id"]
    return agent_id


async def drive(
    stack: Stack, agent_id: str, seconds: float, warmup: float, concurrency: int
) -> dict[str, Any]:
    """Warm up, read, write, read through one httpx pool, then read at a lower rate."""
    auth = {"Authorization": f"Bearer {stack.api_key}"}
    host = stack.base_url.removeprefix("http://")
    read = build_request("GET", f"/v1/agents/{agent_id}", host, auth)
    json_auth = {**auth, "Content-Type": "application/json"}
    write = build_request("POST", "/v1/calls", host, json_auth, call_record(agent_id))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    meter = CpuMeter(stack.pid)
    phases: dict[str, Any] = {}
    async with httpx.AsyncClient(
        base_url=stack.base_url, headers=auth, limits=limits, timeout=30.0
    ) as client:
        plan = [
            ("warmup", raw_senders(stack, read, concurrency), warmup),
            ("warmup_writes", raw_senders(stack, write, concurrency), warmup),
            ("reads", raw_senders(stack, read, concurrency), seconds),
            ("writes", raw_senders(stack, write, concurrency), seconds),
            ("reads_httpx", httpx_senders(client, f"/v1/agents/{agent_id}", concurrency), seconds),
        ]
        for name, senders, length in plan:
            print(f"{name}: {length:.0f} s", file=sys.stderr, flush=True)
            phases[name] = await run_phase(senders, length, meter)
            httpx_name = f"httpx {httpx.__version__}, one pool of {concurrency}"
            phases[name]["client"] = httpx_name if name.endswith("httpx") else "bench/_http.py"
        # Saturated, every await in the server waits its turn in a full event loop, the
        # limiter's included; offered less, its time comes closer to the decision's own.
        for fraction in PACED_FRACTIONS:
            name, rate = (
                f"reads_paced_{100 * fraction:.0f}",
                round(fraction * phases["reads"]["req_per_s"]),
            )
            print(f"{name}: {seconds:.0f} s at {rate}/s", file=sys.stderr, flush=True)
            senders = raw_senders(stack, read, concurrency)
            phases[name] = await run_phase(senders, seconds, meter, rate=rate)
            phases[name] |= {"client": "bench/_http.py", "offered_per_s": rate}
    phases |= await default_tenant(stack, seconds, concurrency, meter)
    return phases


async def default_tenant(
    stack: Stack, seconds: float, concurrency: int, meter: CpuMeter
) -> dict[str, Any]:
    """A tenant on the default limits (1000/minute, burst 200): paced within its rate, then
    saturating, when all but the burst and the refill are refused (the refusal path)."""
    agent_id = await import_agent(stack, stack.default_api_key)
    host = stack.base_url.removeprefix("http://")
    auth = {"Authorization": f"Bearer {stack.default_api_key}"}
    read = build_request("GET", f"/v1/agents/{agent_id}", host, auth)
    phases: dict[str, Any] = {}
    paced_s = 2 * seconds  # a slow rate: twice as long, for enough samples
    print(f"default_paced: {paced_s:.0f} s at {DEFAULT_PACE:.0f}/s", file=sys.stderr, flush=True)
    senders = raw_senders(stack, read, DEFAULT_CONNECTIONS)
    phases["default_paced"] = await run_phase(senders, paced_s, meter, rate=DEFAULT_PACE)
    phases["default_paced"] |= {"client": "bench/_http.py", "offered_per_s": DEFAULT_PACE}
    print(f"default_saturated: {seconds:.0f} s", file=sys.stderr, flush=True)
    senders = raw_senders(stack, read, concurrency)
    phases["default_saturated"] = await run_phase(senders, seconds, meter)
    phases["default_saturated"]["client"] = "bench/_http.py"
    return phases


def wrk_phases(stack: Stack, agent_id: str, how: WrkRun) -> dict[str, Any]:
    """The reads and the writes again, from wrk: a check that our client is not the limit."""
    auth = {"Authorization": f"Bearer {stack.api_key}"}
    json_auth = {**auth, "Content-Type": "application/json"}
    found: dict[str, Any] = {}
    for name, path, headers, body in (
        ("reads_wrk", f"/v1/agents/{agent_id}", auth, None),
        ("writes_wrk", "/v1/calls", json_auth, call_record(agent_id)),
    ):
        print(f"{name}: {how.seconds:.0f} s", file=sys.stderr, flush=True)
        found[name] = run_wrk(f"{stack.base_url}{path}", headers, body, how)
    return found


def bench(args: argparse.Namespace) -> dict[str, Any]:
    os.sched_setaffinity(0, {CLIENT_CORE})
    if args.priority:
        os.setpriority(os.PRIO_PROCESS, 0, -args.priority)
    seconds = args.seconds or (3.0 if args.quick else 10.0)
    warmup = 1.0 if args.quick else 3.0
    report: dict[str, Any] = {
        **run_header("api"),
        "versions": asyncio.run(_versions()),
    }
    with bench_stack(server_core=SERVER_CORE, priority=args.priority) as stack:
        report["settings"] = {
            "concurrency": args.concurrency,
            "seconds": seconds,
            "warmup_s": warmup,
            "server_core": SERVER_CORE,
            "client_core": CLIENT_CORE,
            "priority": args.priority,
            "server_env": {k: v for k, v in stack.env.items() if k != "VOXPLANE_DATA_DIR"},
            "pythonpath": os.environ.get("PYTHONPATH"),  # another tree's src, to compare
        }
        agent_id = asyncio.run(import_agent(stack, stack.api_key))
        run = uvloop_run if uvloop_run is not None else asyncio.run
        report["phases"] = run(drive(stack, agent_id, seconds, warmup, args.concurrency))
        if not args.no_wrk and shutil.which("wrk") is None:
            print("wrk is not installed: skipping its phases", file=sys.stderr)
        elif not args.no_wrk:
            how = WrkRun(seconds, args.concurrency, CLIENT_CORE, args.priority)
            report["phases"].update(wrk_phases(stack, agent_id, how))
    report["targets"] = targets(report["phases"])
    return report


def targets(phases: dict[str, Any]) -> dict[str, Any]:
    """Each target with the figure it is judged on; the limiter's at every load level."""
    reads = phases["reads"]["req_per_s"]
    limiter = {
        name: phase["ratelimit_ms"]["p99"]
        for name, phase in phases.items()
        if name in ("reads", "writes") or name.startswith(("reads_paced", "default_"))
    }
    return {
        "reads_per_s": {
            "target": TARGET_READS_PER_S,
            "measured": reads,
            "met": reads >= TARGET_READS_PER_S,
        },
        "ratelimit_p99_ms": {
            "target": TARGET_RATELIMIT_P99_MS,
            "measured": limiter,
            "met": {k: v is not None and v <= TARGET_RATELIMIT_P99_MS for k, v in limiter.items()},
        },
    }


def summary_line(report: dict[str, Any]) -> str:
    phases = report["phases"]

    def part(name: str) -> str:
        phase = phases[name]
        latency, limiter = phase["latency_ms"], phase["ratelimit_ms"]
        return (
            f"{name} {phase['req_per_s']:.0f}/s p50={latency['p50']:.1f}ms "
            f"p99={latency['p99']:.1f}ms ratelimit p99={limiter['p99']:.2f}ms "
            f"errors={sum(phase['errors'].values())} "
            f"server={phase['cpu']['server_ms_per_request']:.2f}ms/req "
            f"client cpu={phase['cpu']['client_cores']:.2f}"
        )

    httpx_reads = phases["reads_httpx"]["req_per_s"]
    line = f"api: {part('reads')}; {part('writes')}; httpx reads {httpx_reads:.0f}/s"
    for name, phase in phases.items():
        if name.startswith("reads_paced"):
            line += (
                f"; {phase['offered_per_s']}/s ratelimit p99={phase['ratelimit_ms']['p99']:.2f}ms"
            )
    for name in ("default_paced", "default_saturated"):
        phase = phases[name]
        line += (
            f"; {name} ok={phase['ok']} refused={phase['errors'].get('429', 0)}"
            f" ratelimit p50={phase['ratelimit_ms']['p50']:.3f}ms"
            f" p99={phase['ratelimit_ms']['p99']:.3f}ms"
        )
    if phases.get("reads_wrk"):
        line += f"; wrk reads {phases['reads_wrk']['req_per_s']:.0f}/s"
        line += f" writes {phases['writes_wrk']['req_per_s']:.0f}/s"
    return line + f" (background load {report['machine']['busy_cores_before']} cores)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 s phases instead of 10 s")
    parser.add_argument("--seconds", type=float, help="length of each measured phase")
    parser.add_argument("--concurrency", type=int, default=50, help="concurrent clients")
    parser.add_argument(
        "--priority",
        type=int,
        default=0,
        help="renice server and client by -N (root only): a shared machine disturbs less",
    )
    parser.add_argument("--no-wrk", action="store_true", help="skip the wrk comparison")
    args = parser.parse_args()
    terminate_on_sigterm()
    started = time.perf_counter()
    report = bench(args)
    report["bench_s"] = round(time.perf_counter() - started, 1)
    RESULTS.mkdir(exist_ok=True)
    text = json.dumps(report, indent=2) + "\n"
    path = RESULTS / f"api-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(text)
    (RESULTS / "api-latest.json").write_text(text)
    print(f"wrote {path}", file=sys.stderr)
    print(summary_line(report))


if __name__ == "__main__":
    main()
