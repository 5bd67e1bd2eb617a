"""What metrics and tracing cost a call: the telephony benchmark's calls with observability
off and on, in alternating rounds.

``.venv/bin/python bench/observability.py [--calls 20] [--turns 3] [--rounds 2]``

Each round starts ONE ``voxplane serve`` pinned to core 0 twice, on the same scripted
agent and the same real caller speech as ``bench/telephony.py`` (whose callers this
reuses), and runs ``--calls`` concurrent Twilio media-stream calls of ``--turns`` turns:

- **off**: no ``VOXPLANE_OTLP_ENDPOINT`` (the OpenTelemetry API hands out no-op spans),
  ``/metrics`` never scraped;
- **on**: spans exported over OTLP/HTTP in batches to a collector stand-in in this process
  (it reads and counts each export, as a collector's receiver would), and ``/metrics``
  scraped every second (Prometheus' default is 15 s: this overstates the scrape).

Prometheus counters and histograms are updated in both modes (there is no switch to turn
them off), so "on vs off" is the cost of tracing and exporting plus scraping; the cost of
the counters themselves is inside both figures. Reported: the worker's CPU per second of
call (ms) in each mode, per round and as medians, the ratio on/off (target: ≤ 1.03), the
spans and bytes exported. Writes ``bench/results/observability-<time>.json`` and
``observability-latest.json``; prints one summary line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _server import bench_stack, terminate_on_sigterm
from api import run_header
from telephony import AGENT, CLIENT_CORE, FSDD, RESULTS, SERVER_CORE, level, setup


class _Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver stand-in: reads each export whole, answers 200."""

    exports = 0
    bytes_in = 0

    def do_POST(self) -> None:
        size = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(size)
        type(self).exports += 1
        type(self).bytes_in += size
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


async def _scrape_forever(base_url: str, stop: asyncio.Event) -> int:
    scrapes = 0
    async with httpx.AsyncClient(timeout=10) as client:
        while not stop.is_set():
            (await client.get(f"{base_url}/metrics")).raise_for_status()
            scrapes += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
    return scrapes


async def _observed_level(base_url: str, *args: Any, scrape: bool) -> dict[str, Any]:
    stop = asyncio.Event()
    scraper = asyncio.create_task(_scrape_forever(base_url, stop)) if scrape else None
    try:
        return await level(*args)
    finally:
        stop.set()
        if scraper is not None:
            await scraper


def run_mode(mode: str, calls: int, turns: int, collector_url: str) -> dict[str, Any]:
    env = {
        "VOXPLANE_DEFAULT_MAX_CONCURRENT_CALLS": "100000",
        "VOXPLANE_MAX_CALLS": "10000",  # scripted providers: the worker's default is for models
        "VOXPLANE_LOG_LEVEL": "warning",
    }
    if mode == "on":
        env["VOXPLANE_OTLP_ENDPOINT"] = collector_url
    _Collector.exports = _Collector.bytes_in = 0
    with bench_stack(server_core=SERVER_CORE, extra_env=env) as stack:
        number = setup(stack)
        asyncio.run(level(stack, number, 1, 1))  # warm up: the VAD model loads on call one
        result = asyncio.run(
            _observed_level(stack.base_url, stack, number, calls, turns, scrape=mode == "on")
        )
    time.sleep(0.5)  # the server's last batch export on shutdown
    result |= {"mode": mode, "exports": _Collector.exports, "export_bytes": _Collector.bytes_in}
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if not FSDD.is_dir():
        print(f"needs the FSDD recordings in {FSDD}", file=sys.stderr)
        return 2
    terminate_on_sigterm()
    os.sched_setaffinity(0, {CLIENT_CORE})
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    collector_url = f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
    runs: list[dict[str, Any]] = []
    try:
        for round_ in range(args.rounds):
            for mode in ("off", "on") if round_ % 2 == 0 else ("on", "off"):
                result = run_mode(mode, args.calls, args.turns, collector_url)
                runs.append(result | {"round": round_})
                if result["failed_calls"]:
                    print(f"round {round_} {mode}: {result['failed_calls']} calls failed")
                print(
                    f"round {round_} {mode:>3}: {result['worker_ms_per_call_s']} ms CPU per "
                    f"call-second, {result['turns']} turns, lost {result['lost_turns']}, "
                    f"{result['exports']} exports ({result['export_bytes']} bytes)",
                    flush=True,
                )
    finally:
        server.shutdown()

    def median(mode: str) -> float:
        return statistics.median(r["worker_ms_per_call_s"] for r in runs if r["mode"] == mode)

    off, on = round(median("off"), 2), round(median("on"), 2)
    report = {
        **run_header("observability"),
        "settings": {"calls": args.calls, "turns": args.turns, "rounds": args.rounds},
        "agent": AGENT,
        "runs": runs,
        "worker_ms_per_call_s": {"off": off, "on": on},
        "ratio": round(on / off, 4),
        "target_ratio": 1.03,
    }
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    text = json.dumps(report, indent=2)
    (RESULTS / f"observability-{stamp}.json").write_text(text)
    (RESULTS / "observability-latest.json").write_text(text)
    print(
        f"observability: worker {off} ms/call-s off, {on} ms/call-s on "
        f"(tracing exported, /metrics scraped each second): ratio {report['ratio']} "
        f"(target <= 1.03), {args.calls} calls x {args.turns} turns, {args.rounds} rounds"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
