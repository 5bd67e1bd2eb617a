"""What voxplane's cloud speech layer adds to time to first audio, on loopback.

A Cartesia-protocol server on 127.0.0.1 answers every generation request with one audio
chunk and ``done``. Interleaved rounds measure time to first audio of:

- ``bare``: a plain ``websockets`` client doing the same exchange (connect, send the
  request, read the first chunk);
- ``adapter``: ``CartesiaTTS.synthesize`` on a new ``CartesiaTTS`` (the same exchange,
  connecting included, plus JSON checks, base64 and PCM assembly; a call's later sentences
  reuse its socket: ``cloud_tts_socket.py``);
- ``fallback``: a ``FallbackTTS`` whose primary fails at once (HTTP 503 before any audio)
  and whose second provider is that same ``CartesiaTTS``: what switching provider costs.

The network is loopback: real providers add their own round trips; this is the overhead of
the code alone. Writes ``bench/results/cloud_speech-<time>.json`` and
``cloud_speech-latest.json``; prints one summary line.

    .venv/bin/python bench/cloud_speech.py [--rounds 200]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import os
import platform
import statistics
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from voxplane.errors import ProviderError
from voxplane.media.frame import AudioFrame
from voxplane.providers.base import TTS
from voxplane.providers.breaker import BreakerBoard, BreakerPolicy
from voxplane.providers.cloud.cartesia import CartesiaTTS
from voxplane.providers.cloud.common import Endpoint
from voxplane.providers.fallback import FallbackRouter, FallbackTTS, Member, RoutingPolicy
from voxplane.providers.streams import close_stream

RESULTS = Path(__file__).parent / "results"
CHUNK = base64.b64encode((np.arange(3200) % 200).astype("<i2").tobytes()).decode()  # 200 ms


async def provider(connection: ServerConnection) -> None:
    async for raw in connection:
        message = json.loads(raw)
        if "transcript" not in message:
            continue  # a cancel (the client stops reading after the first chunk)
        context = message["context_id"]
        chunk = {"type": "chunk", "data": CHUNK, "done": False, "status_code": 206}
        await connection.send(json.dumps({**chunk, "context_id": context}))
        done = {"type": "done", "done": True, "status_code": 206, "context_id": context}
        await connection.send(json.dumps(done))


class DownTTS(CartesiaTTS):
    """A provider answering 503 before any audio."""

    async def synthesize(self, text: str) -> AsyncIterator[AudioFrame]:
        raise ProviderError("cartesia failed (HTTP 503)", retryable=True)
        yield  # an async generator, like the real one


async def bare(url: str) -> float:
    started = time.perf_counter()
    async with connect(url + "/tts/websocket", compression=None) as socket:
        await socket.send(json.dumps({"transcript": "Hello there.", "context_id": "c1"}))
        message = json.loads(await socket.recv())
        base64.b64decode(message["data"])
        return time.perf_counter() - started


async def first_audio(make: Callable[[], TTS]) -> float:
    """First audio of a new TTS (a new socket, as ``bare`` opens one)."""
    tts = make()
    try:
        started = time.perf_counter()
        stream = tts.synthesize("Hello there.")
        await anext(stream)
        took = time.perf_counter() - started
        await close_stream(stream)
        return took
    finally:
        await tts.aclose()


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(1000 * statistics.median(ordered), 3),
        "p90_ms": round(1000 * ordered[int(0.9 * (len(ordered) - 1))], 3),
        "mean_ms": round(1000 * statistics.fmean(ordered), 3),
    }


async def run(rounds: int) -> dict[str, Any]:
    async with serve(provider, "127.0.0.1", 0, compression=None) as server:
        url = f"ws://127.0.0.1:{next(iter(server.sockets)).getsockname()[1]}"
        board, p = BreakerBoard(), BreakerPolicy(failures=10**9)  # never opens

        def adapter() -> CartesiaTTS:
            return CartesiaTTS(Endpoint("bench-key", url, 5.0))

        def fallback() -> FallbackTTS:
            members: list[Member[TTS]] = [
                Member("bench-down", DownTTS(Endpoint("k", url)), board.breaker("tts", "d", "", p)),
                Member("bench-up", adapter(), board.breaker("tts", "u", "", p)),
            ]
            return FallbackTTS(FallbackRouter("tts", members, RoutingPolicy(5.0)))

        times: dict[str, list[float]] = {"bare": [], "adapter": [], "fallback": []}
        for _ in range(10):  # warm up
            await bare(url)
            await first_audio(adapter)
        runs = {
            "bare": lambda: bare(url),
            "adapter": lambda: first_audio(adapter),
            "fallback": lambda: first_audio(fallback),
        }
        names = list(runs)
        for index in range(rounds):
            # interleaved, and rotated: drift on a shared machine, and whatever the previous
            # connection's close leaves to do, fall on each alike
            shift = index % len(names)
            for name in names[shift:] + names[:shift]:
                times[name].append(await runs[name]())
    stats = {name: summary(values) for name, values in times.items()}
    return {
        "time_to_first_audio": stats,
        "adapter_over_bare_p50": round(stats["adapter"]["p50_ms"] / stats["bare"]["p50_ms"], 3),
        "fallback_switch_adds_p50_ms": round(
            stats["fallback"]["p50_ms"] - stats["adapter"]["p50_ms"], 3
        ),
    }


def main() -> None:
    logging.getLogger("voxplane").setLevel(logging.ERROR)  # one warning per failed primary
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    args.rounds = max(10, min(args.rounds, 2000))  # bounded
    results = asyncio.run(run(args.rounds))
    report = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "cores": os.cpu_count(),
            "load_average_1m": round(os.getloadavg()[0], 2),  # other work competing for it
        },
        "args": vars(args),
        **results,
    }
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for path in (RESULTS / f"cloud_speech-{stamp}.json", RESULTS / "cloud_speech-latest.json"):
        path.write_text(json.dumps(report, indent=2) + "\n")
    stats = results["time_to_first_audio"]
    assert isinstance(stats, dict)
    print(
        f"cloud_speech: first audio p50 bare {stats['bare']['p50_ms']} ms, "
        f"CartesiaTTS {stats['adapter']['p50_ms']} ms "
        f"(x{results['adapter_over_bare_p50']}), after a failed primary "
        f"{stats['fallback']['p50_ms']} ms (+{results['fallback_switch_adds_p50_ms']} ms); "
        f"{args.rounds} rounds, loopback, load {report['machine']['load_average_1m']}"
    )


if __name__ == "__main__":
    main()
