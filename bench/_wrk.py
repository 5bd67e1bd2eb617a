"""Run ``wrk`` (when installed) with one thread on one core and read back its summary."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _lua(headers: dict[str, str], body: bytes | None) -> str:
    lines = [f"wrk.method = {json.dumps('POST' if body is not None else 'GET')}"]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    if body is not None:
        lines.append(f"wrk.body = {json.dumps(body.decode())}")
    return "\n".join(lines) + "\n"


def _ms(text: str) -> float:
    found = re.fullmatch(r"([0-9.]+)(us|ms|s)", text)
    if found is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return round(float(found.group(1)) * _UNITS_MS[found.group(2)], 3)


def _number(pattern: str, out: str) -> float:
    found = re.search(pattern, out)
    if found is None:
        raise ValueError(f"no {pattern!r} in wrk's output:\n{out}")
    return float(found.group(1))


@dataclass(frozen=True, slots=True)
class WrkRun:
    """``connections`` keep-alive clients for ``seconds``, wrk pinned to ``core`` and
    reniced by ``-priority``."""

    seconds: float
    connections: int
    core: int
    priority: int = 0


def run_wrk(
    url: str, headers: dict[str, str], body: bytes | None, how: WrkRun
) -> dict[str, Any] | None:
    """The load from wrk with one thread, or None without wrk."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_lua(headers, body))
    command = [wrk, "-t1", f"-c{how.connections}", f"-d{max(1, round(how.seconds))}s"]
    command = ["taskset", "-c", str(how.core), *command, "--latency", "-s", script.name, url]
    if how.priority:
        command = ["nice", "-n", str(-how.priority), *command]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=True)
    finally:
        Path(script.name).unlink()
    out = done.stdout
    latency = dict(re.findall(r"^\s+(50|90|99)%\s+([0-9.]+\w+)", out, re.MULTILINE))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    version = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False).stdout
    return {
        "client": " ".join(version.split()[:2]) + ", 1 thread",
        "req_per_s": _number(r"Requests/sec:\s+([0-9.]+)", out),
        "requests": int(_number(r"(\d+) requests in", out)),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else None,
        "latency_ms": {f"p{q}": _ms(v) for q, v in latency.items()},
    }
