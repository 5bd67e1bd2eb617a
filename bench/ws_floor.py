"""What a media-stream call costs before any media work: the websocket server's floor.

``.venv/bin/python bench/ws_floor.py [--calls 50 100 200] [--seconds 15] [--server fastapi
asgi websockets]``

A Twilio media stream is 50 JSON messages a second each way. This bench measures what
carrying them costs a server that does nothing else: each of ``--calls`` clients (this
process, pinned to core 1) sends a Twilio-shaped media message every 20 ms on an absolute
schedule, and the server (its own process, pinned to core 0, uvloop as ``voxplane serve``)
sends each back. Three servers:

- ``fastapi``: a FastAPI websocket route on uvicorn, configured as ``voxplane serve``
  configures it (its websocket implementation, no per-message deflate): the stack a
  voxplane call's messages go through, with no voxplane code on it;
- ``asgi``: a bare ASGI app on the same uvicorn: what uvicorn's websocket protocol costs
  without Starlette's ``WebSocket``;
- ``websockets``: the ``websockets`` library's own asyncio server, no ASGI: an echo server
  as lean as Python websockets get.

Per level: the server's CPU (cores, and ms of CPU per call-second: the figure
``telephony.py`` reports for a whole voxplane worker), the messages echoed (a saturated
server falls behind), and the client's CPU (a saturated client would make the figures lie).
Writes ``bench/results/ws_floor-<time>.json`` and ``ws_floor-latest.json``; prints one line
per level. Issue 8's target, 200 calls per core, leaves a call 5 ms of CPU per second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, WebSocket
from websockets.asyncio.client import connect

from _server import REPO, free_port, terminate_on_sigterm
from api import process_cpu_s, run_header

SERVER_CORE, CLIENT_CORE = 0, 1
RESULTS = REPO / "bench" / "results"
SERVERS = ("fastapi", "asgi", "websockets")
MEDIA = (
    '{"event":"media","sequenceNumber":"%d","streamSid":"MZ00000000000000000000000000000000",'
    '"media":{"track":"inbound","chunk":"%d","timestamp":"%d","payload":"' + "/" * 216 + '"}}'
)
"""A Twilio media message: 160 μ-law bytes are 216 base64 characters."""
SETTLE_S = 1.0


# --- the servers (run in a child process) ------------------------------------------------


def _fastapi_app() -> Any:
    app = FastAPI()

    @app.websocket("/stream")
    async def stream(websocket: WebSocket) -> None:
        await websocket.accept()
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            await websocket.send_text(message["text"])

    return app


async def _asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "websocket":
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        await send({"type": "websocket.send", "text": message["text"]})


def serve(kind: str, port: int) -> None:
    import uvloop

    os.sched_setaffinity(0, {SERVER_CORE})
    if kind == "websockets":
        from websockets.asyncio.server import ServerConnection
        from websockets.asyncio.server import serve as ws_serve

        async def echo(connection: ServerConnection) -> None:
            async for message in connection:
                await connection.send(message)

        async def main() -> None:
            async with ws_serve(echo, "127.0.0.1", port, compression=None, max_size=2**16):
                await asyncio.Future()

        uvloop.run(main())
        return
    import uvicorn

    app = _fastapi_app() if kind == "fastapi" else _asgi_app
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        log_config=None,
        access_log=False,
        lifespan="off",
        ws_max_size=2**16,
        ws_per_message_deflate=False,
    )
    uvicorn.Server(config).run()


# --- the clients (this process) ----------------------------------------------------------


async def _call(url: str, start: float, seconds: float, counts: list[int]) -> None:
    """One call's stream: a media message every 20 ms until ``start + seconds``; counts
    [sent, received] from ``start`` on (messages before it are the ramp)."""
    loop = asyncio.get_running_loop()
    async with connect(url, compression=None, max_size=2**16) as ws:

        async def receive() -> None:
            async for _ in ws:
                if loop.time() >= start:
                    counts[1] += 1

        receiver = asyncio.create_task(receive())
        t0, sent = loop.time(), 0
        while (now := loop.time()) < start + seconds:
            due = t0 + 0.02 * sent
            if due > now:
                await asyncio.sleep(due - now)
            sent += 1
            await ws.send(MEDIA % (sent, sent, 20 * sent))
            if loop.time() >= start:
                counts[0] += 1
        await asyncio.sleep(0.2)  # the last echoes
        receiver.cancel()


async def _level(url: str, pid: int, calls: int, seconds: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    ramp = max(1.0, calls / 100)  # connections spread over the ramp
    start = loop.time() + ramp + SETTLE_S
    counts = [[0, 0] for _ in range(calls)]

    async def delayed(index: int) -> None:
        await asyncio.sleep(ramp * index / calls)
        await _call(url, start, seconds, counts[index])

    tasks = [asyncio.create_task(delayed(i)) for i in range(calls)]
    await asyncio.sleep(start - loop.time())
    server0, client0, wall0 = process_cpu_s(pid), time.process_time(), time.monotonic()
    await asyncio.sleep(seconds)
    server1, client1, wall1 = process_cpu_s(pid), time.process_time(), time.monotonic()
    await asyncio.gather(*tasks)
    wall = wall1 - wall0
    sent, received = sum(c[0] for c in counts), sum(c[1] for c in counts)
    server_cores = (server1 - server0) / wall
    return {
        "calls": calls,
        "seconds": round(wall, 2),
        "server_cores": round(server_cores, 3),
        "ms_per_call_second": round(1000 * server_cores / calls, 3),
        "messages_sent": sent,
        "echoed": round(received / sent, 4) if sent else None,
        "client_cores": round((client1 - client0) / wall, 3),
    }


def _serve_process(kind: str, port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, __file__, "--serve", kind, "--port", str(port)]
    process = subprocess.Popen(command, cwd=REPO)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"the {kind} server did not start")


def bench(args: argparse.Namespace) -> dict[str, Any]:
    os.sched_setaffinity(0, {CLIENT_CORE})
    report: dict[str, Any] = {
        **run_header("ws_floor"),
        "settings": {"calls": args.calls, "seconds": args.seconds, "servers": args.server},
        "levels": [],
    }
    for kind in args.server:
        port = free_port()
        process = _serve_process(kind, port)
        try:
            for calls in args.calls:
                url = f"ws://127.0.0.1:{port}/stream"
                result = {
                    "server": kind,
                    **asyncio.run(_level(url, process.pid, calls, args.seconds)),
                }
                report["levels"].append(result)
                echoed = 100 * (result["echoed"] or 0)
                print(
                    f"{kind:>10} {calls:4d} calls: server {result['server_cores']:.2f} cores "
                    f"({result['ms_per_call_second']:.2f} ms per call-second), echoed "
                    f"{echoed:.1f} %, client {result['client_cores']:.2f} cores",
                    flush=True,
                )
        finally:
            process.terminate()
            process.wait(timeout=10)
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[50, 100, 200])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--server", nargs="+", choices=SERVERS, default=list(SERVERS))
    parser.add_argument("--serve", choices=SERVERS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return 0
    terminate_on_sigterm()
    report = bench(args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    text = json.dumps(report, indent=2) + "\n"
    (RESULTS / f"ws_floor-{stamp}.json").write_text(text)
    (RESULTS / "ws_floor-latest.json").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
