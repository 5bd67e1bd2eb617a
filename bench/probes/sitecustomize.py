"""Probes for a ``voxplane serve`` started by a benchmark (``telephony.py --probe gc,ort,lag``).

Put on the server's ``PYTHONPATH``, this file runs at interpreter start-up in every Python
process of that environment, and acts only in one whose command line has ``serve``. Each
probe appends lines to ``$VOXPLANE_PROBE_DIR/<probe>-<pid>.txt``:

- ``gc``: every collection of generation 1 or 2, and any over 1 ms, with its duration;
- ``gc-off``: no probe, the collector disabled (``gc.freeze()`` and ``gc.enable()`` then
  do nothing): an A/B of whether collections cause what a bench sees;
- ``ort``: onnxruntime ``InferenceSession.run`` calls, rows of ``input``, wall and thread
  CPU time, summed, a line every 5 s;
- ``lag``: event-loop wake-ups more than 8 ms late (a 5 ms sleep in a loop), with the stacks
  a 1 ms sampling thread saw meanwhile (the sampler needs the GIL: few samples mean the
  loop was in C code holding it).

A benchmarking aid, never imported by voxplane itself.
"""

from __future__ import annotations

import os
import time
from typing import Any, TextIO

_probes = set(filter(None, os.environ.get("VOXPLANE_PROBES", "").split(",")))
with open("/proc/self/cmdline", "rb") as _cmdline:
    _server = b"serve" in _cmdline.read()


def _log(name: str) -> TextIO:
    folder = os.environ.get("VOXPLANE_PROBE_DIR", ".")
    return open(f"{folder}/{name}-{os.getpid()}.txt", "a", buffering=1)


def _gc_probe() -> None:
    import gc

    out, started = _log("gc"), [0.0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        ms = 1000 * (time.perf_counter() - started[0])
        if info["generation"] >= 1 or ms > 1:
            out.write(
                f"{time.time():.3f} gen{info['generation']} {ms:.2f} ms "
                f"collected={info['collected']} frozen={gc.get_freeze_count()}\n"
            )

    gc.callbacks.append(callback)


def _gc_off() -> None:
    import gc

    gc.disable()
    gc.enable = lambda: None


def _ort_probe() -> None:
    import onnxruntime

    out = _log("ort")
    run = onnxruntime.InferenceSession.run
    totals = {"runs": 0, "rows": 0, "wall": 0.0, "cpu": 0.0, "written": time.time()}

    def counted(self: Any, output_names: Any, input_feed: Any, run_options: Any = None) -> Any:
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return run(self, output_names, input_feed, run_options)
        finally:
            totals["runs"] += 1
            totals["wall"] += time.perf_counter() - wall
            totals["cpu"] += time.thread_time() - cpu
            rows = input_feed.get("input")
            totals["rows"] += 0 if rows is None else len(rows)
            if time.time() - totals["written"] > 5:
                totals["written"] = time.time()
                out.write(
                    f"{time.time():.1f} runs={totals['runs']} rows={totals['rows']} "
                    f"wall={1000 * totals['wall']:.0f}ms cpu={1000 * totals['cpu']:.0f}ms\n"
                )

    onnxruntime.InferenceSession.run = counted


def _lag_probe() -> None:
    import asyncio
    import collections
    import sys
    import threading

    import uvloop

    out = _log("lag")
    ring: collections.deque[tuple[float, str]] = collections.deque(maxlen=400)

    def sample(main: int) -> None:
        while True:
            time.sleep(0.001)
            frame = sys._current_frames().get(main)
            stack = []
            while frame is not None and len(stack) < 12:
                code = frame.f_code
                stack.append(f"{os.path.basename(code.co_filename)}:{code.co_name}")
                frame = frame.f_back
            ring.append((time.perf_counter(), ";".join(reversed(stack))))

    async def watch() -> None:
        while True:
            began = time.perf_counter()
            await asyncio.sleep(0.005)
            late_ms = 1000 * (time.perf_counter() - began) - 5
            if late_ms > 8:
                end = time.perf_counter()
                seen = [s for at, s in list(ring) if end - (late_ms + 6) / 1000 <= at]
                out.write(f"{time.time():.3f} late {late_ms:.1f} ms, {len(seen)} samples\n")
                for stack, count in collections.Counter(seen).most_common(4):
                    out.write(f"   {count} {stack}\n")

    original = uvloop.run

    def run(main: Any, **kwargs: Any) -> Any:
        async def watched() -> Any:
            threading.Thread(target=sample, args=(threading.get_ident(),), daemon=True).start()
            asyncio.get_running_loop().create_task(watch())
            return await main

        return original(watched(), **kwargs)

    uvloop.run = run


if _server:
    for _name, _install in (
        ("gc", _gc_probe),
        ("gc-off", _gc_off),
        ("ort", _ort_probe),
        ("lag", _lag_probe),
    ):
        if _name in _probes:
            _install()
