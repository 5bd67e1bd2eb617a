"""A throwaway PostgreSQL database and one ``voxplane serve`` process, for API benchmarks.

Both are made fresh for a run and removed on every way out: :func:`bench_stack` is a
context manager whose exit stops the server (SIGTERM, then SIGKILL) and drops the database
``WITH (FORCE)``, and :func:`terminate_on_sigterm` turns a SIGTERM into ``SystemExit`` so
that the exit runs when the bench is killed, as it does for Ctrl-C.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import asyncpg
import httpx

REPO = Path(__file__).resolve().parent.parent
VOXPLANE = REPO / ".venv" / "bin" / "voxplane"
if not VOXPLANE.exists():  # a worktree without its own venv: the one running this bench
    VOXPLANE = Path(sys.executable).with_name("voxplane")
PG_HOST = "postgresql://postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/0"
RATE_PER_MINUTE = 100_000_000
"""The bench tenant's request limit: out of reach, yet every request pays for a decision."""
DEFAULT_RATE = (1000, 200)
"""A second tenant's limit and burst: the settings' defaults, what a new tenant gets."""


@dataclass(frozen=True, slots=True)
class Stack:
    """What a benchmark talks to: the server's address, its pid and a tenant's API key."""

    base_url: str
    pid: int
    api_key: str
    tenant_id: str
    default_api_key: str
    """A key of a second tenant on the default limits (DEFAULT_RATE)."""
    database: str
    env: Mapping[str, str]
    """The ``VOXPLANE_*`` variables the server was started with (no secrets among them)."""


def terminate_on_sigterm() -> None:
    """Make SIGTERM unwind the stack like Ctrl-C does, so cleanup code runs."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A loopback port free for ``kind`` (TCP by default, ``socket.SOCK_DGRAM`` for UDP)."""
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _pg(statement: str) -> None:
    connection = await asyncpg.connect(f"{PG_HOST}/postgres")
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _cli(args: list[str], env: Mapping[str, str]) -> str:
    done = subprocess.run(
        [str(VOXPLANE), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"voxplane {args[0]} {args[1]} failed: {done.stderr.strip()}")
    return done.stdout


def _wait_ready(base_url: str, process: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before it was ready")
        try:
            if httpx.get(f"{base_url}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server was not ready within {timeout_s:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def bench_stack(
    *, server_core: int, priority: int = 0, extra_env: Mapping[str, str] | None = None
) -> Iterator[Stack]:
    """A fresh database with one tenant, and one server pinned to ``server_core`` (and
    reniced by ``-priority``)."""
    database = f"voxplane_bench_{secrets.token_hex(4)}"
    url = f"{PG_HOST.replace('postgresql', 'postgresql+asyncpg')}/{database}"
    data_dir = Path(tempfile.mkdtemp(prefix="voxplane-bench-"))
    port = free_port()
    env = {
        "VOXPLANE_DATABASE_URL": url,
        "VOXPLANE_REDIS_URL": REDIS_URL,
        "VOXPLANE_DATA_DIR": str(data_dir),
        "VOXPLANE_PORT": str(port),
        "VOXPLANE_SIP_PORT": "0",  # the API and media streams only: never the shared 5060
        "VOXPLANE_LOG_LEVEL": "warning",
        "VOXPLANE_SHUTDOWN_GRACE_S": "2",
        # the tenant created below gets these limits
        "VOXPLANE_DEFAULT_RATE_PER_MINUTE": str(RATE_PER_MINUTE),
        "VOXPLANE_DEFAULT_RATE_BURST": str(RATE_PER_MINUTE),
        **(extra_env or {}),
    }
    process: subprocess.Popen[bytes] | None = None
    asyncio.run(_pg(f'CREATE DATABASE "{database}"'))
    try:
        _cli(["db", "upgrade"], env)
        created = json.loads(
            _cli(
                ["admin", "create-tenant", "--tenant", "bench", "--email", "bench@example.test",
                 f"--password={secrets.token_urlsafe(12)}"],
                env,
            )
        )  # fmt: skip
        default_env = {
            **env,
            "VOXPLANE_DEFAULT_RATE_PER_MINUTE": str(DEFAULT_RATE[0]),
            "VOXPLANE_DEFAULT_RATE_BURST": str(DEFAULT_RATE[1]),
        }
        default = json.loads(
            _cli(
                ["admin", "create-tenant", "--tenant", "bench-default", "--email",
                 "default@example.test", f"--password={secrets.token_urlsafe(12)}"],
                default_env,
            )
        )  # fmt: skip
        process = subprocess.Popen(
            ["taskset", "-c", str(server_core), str(VOXPLANE), "serve"],
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=sys.stderr,
            start_new_session=True,  # Ctrl-C reaches the bench, which stops the server itself
        )
        if priority:
            os.setpriority(os.PRIO_PROCESS, process.pid, -priority)
        base_url = f"http://127.0.0.1:{port}"
        _wait_ready(base_url, process)
        yield Stack(
            base_url,
            process.pid,
            created["api_key"],
            created["tenant_id"],
            default["api_key"],
            database,
            env,
        )
    finally:
        if process is not None:
            _stop(process)
        asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        shutil.rmtree(data_dir, ignore_errors=True)
