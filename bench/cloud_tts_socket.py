"""What keeping one Cartesia websocket per call saves on each sentence's first audio.

A Cartesia-protocol server on 127.0.0.1 emulates a network round trip (``--rtt-ms``): each
websocket handshake is held ``--handshake-rtts`` round trips before it is accepted (TCP,
TLS 1.3 and the HTTP upgrade are three; the default of one is the floor), and each
generation request is answered one round trip after it arrives (the request's flight and
the first chunk's), with ``--model-ms`` of synthesis on top. A call says ``--sentences``
sentences, one after the other, read to ``done``:

- ``per_socket``: the old behaviour, a websocket per sentence (a fresh ``CartesiaTTS`` per
  sentence, closed after it);
- ``reused``: one ``CartesiaTTS`` for the call, its socket kept (a context per sentence).

Calls alternate between the two. Time to first audio is from ``synthesize`` to its first
frame. Sentence 1 pays the handshake either way; sentences 2..N are the comparison. Writes
``bench/results/cloud_tts_socket-<time>.json`` and ``cloud_tts_socket-latest.json``;
prints one summary line.

    .venv/bin/python bench/cloud_tts_socket.py [--calls 30] [--sentences 6] [--rtt-ms 40]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from voxplane.providers.cloud.cartesia import CartesiaTTS
from voxplane.providers.cloud.common import Endpoint

RESULTS = Path(__file__).parent / "results"
CHUNK = base64.b64encode((np.arange(3200) % 200).astype("<i2").tobytes()).decode()  # 200 ms
TEXT = "Your appointment is on Tuesday at ten."


class Provider:
    """The emulated provider: delays, and how many handshakes it accepted."""

    def __init__(self, rtt_s: float, handshake_rtts: int, model_s: float) -> None:
        self.rtt_s = rtt_s
        self.handshake_s = handshake_rtts * rtt_s
        self.model_s = model_s
        self.handshakes = 0

    async def handshake(self, _connection: ServerConnection, _request: Request) -> Response | None:
        self.handshakes += 1
        await asyncio.sleep(self.handshake_s)
        return None

    async def session(self, connection: ServerConnection) -> None:
        async for raw in connection:
            message = json.loads(raw)
            if "transcript" not in message:
                continue  # a cancel: nothing is cancelled here
            context = message["context_id"]
            await asyncio.sleep(self.rtt_s + self.model_s)
            chunk = {"type": "chunk", "data": CHUNK, "done": False, "status_code": 206}
            await connection.send(json.dumps({**chunk, "context_id": context}))
            done = {"type": "done", "done": True, "status_code": 206, "context_id": context}
            await connection.send(json.dumps(done))


async def sentence(tts: CartesiaTTS) -> float:
    """Time to the first frame of one sentence, read to its end."""
    started = time.perf_counter()
    first: float | None = None
    async for _frame in tts.synthesize(TEXT):
        if first is None:
            first = time.perf_counter() - started
    assert first is not None
    return first


async def call(endpoint: Endpoint, sentences: int, reuse: bool) -> list[float]:
    if reuse:
        tts = CartesiaTTS(endpoint)
        try:
            return [await sentence(tts) for _ in range(sentences)]
        finally:
            await tts.aclose()
    times = []
    for _ in range(sentences):
        tts = CartesiaTTS(endpoint)
        try:
            times.append(await sentence(tts))
        finally:
            await tts.aclose()
    return times


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(1000 * statistics.median(ordered), 2),
        "p90_ms": round(1000 * ordered[int(0.9 * (len(ordered) - 1))], 2),
        "mean_ms": round(1000 * statistics.fmean(ordered), 2),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    provider = Provider(args.rtt_ms / 1000, args.handshake_rtts, args.model_ms / 1000)
    modes = {"per_socket": False, "reused": True}
    firsts: dict[str, list[float]] = {mode: [] for mode in modes}
    later: dict[str, list[float]] = {mode: [] for mode in modes}
    handshakes = dict.fromkeys(modes, 0)
    async with serve(
        provider.session, "127.0.0.1", 0, process_request=provider.handshake, compression=None
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        endpoint = Endpoint("bench-key", f"ws://127.0.0.1:{port}", 5.0)
        for reuse in modes.values():  # warm up
            await call(endpoint, 2, reuse)
        names = list(modes)
        for index in range(args.calls):
            for mode in names[index % 2 :] + names[: index % 2]:  # alternate which goes first
                before = provider.handshakes
                times = await call(endpoint, args.sentences, modes[mode])
                handshakes[mode] += provider.handshakes - before
                firsts[mode].append(times[0])
                later[mode] += times[1:]
    stats = {mode: summary(later[mode]) for mode in modes}
    return {
        "emulated": {
            "rtt_ms": args.rtt_ms,
            "handshake_ms": args.rtt_ms * args.handshake_rtts,
            "first_chunk_after_request_ms": args.rtt_ms + args.model_ms,
        },
        "first_audio_sentences_2_to_n": stats,
        "first_audio_sentence_1": {mode: summary(firsts[mode]) for mode in modes},
        "handshakes": handshakes,
        "reuse_saves_p50_ms": round(stats["per_socket"]["p50_ms"] - stats["reused"]["p50_ms"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--sentences", type=int, default=6)
    parser.add_argument("--rtt-ms", type=float, default=40.0)
    parser.add_argument("--handshake-rtts", type=int, default=1)
    parser.add_argument("--model-ms", type=float, default=0.0)
    args = parser.parse_args()
    args.calls = max(2, min(args.calls, 500))  # bounded
    args.sentences = max(2, min(args.sentences, 50))
    results = asyncio.run(run(args))
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
    for path in (
        RESULTS / f"cloud_tts_socket-{stamp}.json",
        RESULTS / "cloud_tts_socket-latest.json",
    ):
        path.write_text(json.dumps(report, indent=2) + "\n")
    stats = results["first_audio_sentences_2_to_n"]
    emulated = results["emulated"]
    assert isinstance(stats, dict) and isinstance(emulated, dict)
    print(
        f"cloud_tts_socket: first audio of sentences 2..{args.sentences} p50 "
        f"per-socket {stats['per_socket']['p50_ms']} ms, reused socket "
        f"{stats['reused']['p50_ms']} ms (-{results['reuse_saves_p50_ms']} ms); "
        f"emulated RTT {args.rtt_ms:g} ms (handshake {emulated['handshake_ms']:g} ms, "
        f"first chunk {emulated['first_chunk_after_request_ms']:g} ms after the request); "
        f"{args.calls} calls x {args.sentences} sentences, loopback, "
        f"load {report['machine']['load_average_1m']}"
    )


if __name__ == "__main__":
    main()
