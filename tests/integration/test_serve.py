"""``voxplane serve`` as a real process: embedded defaults, bootstrap, graceful shutdown."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

VOXPLANE = [sys.executable, "-m", "voxplane.cli.main"]
AGENT = Path(__file__).resolve().parents[2] / "examples" / "agents" / "acme-dental.yaml"
DRAIN_DELAY_S = 3.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_ready(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("voxplane serve did not become ready")


def _poll(check: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"not seen within {timeout_s} s: {what}")


def _readyz_draining(url: str) -> bool:
    """A new connection's /readyz answers 503 with draining: true."""
    with httpx.Client(timeout=2) as fresh:
        response = fresh.get(f"{url}/readyz")
    return response.status_code == 503 and response.json()["draining"] is True


def _refused(url: str) -> bool:
    try:
        with httpx.Client(timeout=2) as fresh:
            fresh.get(f"{url}/healthz")
    except httpx.ConnectError:
        return True
    return False


def _start_import(port: int, api_key: str) -> tuple[socket.socket, bytes]:
    """An agent import whose body is still arriving: half of it sent, the rest returned."""
    body = AGENT.read_bytes()
    head = (
        f"POST /v1/agents/import HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {api_key}\r\nContent-Type: application/yaml\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    upload = socket.create_connection(("127.0.0.1", port), timeout=30)
    upload.sendall(head + body[: len(body) // 2])
    return upload, body[len(body) // 2 :]


def _finish(upload: socket.socket, rest: bytes) -> tuple[int, dict[str, object]]:
    upload.sendall(rest)
    reply = b""
    while chunk := upload.recv(65536):  # the draining server closes after the response
        reply += chunk
    head, _, payload = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(payload)


def test_serve_on_embedded_defaults_then_drain_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "data"
    server = subprocess.Popen(
        [*VOXPLANE, "serve", "--port", str(port), "--sip-port", "0", "--data-dir", str(data)],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "VOXPLANE_DRAIN_DELAY_S": str(DRAIN_DELAY_S)},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, server)
        # ready once the local models are loaded, not on the first call that needs them
        assert httpx.get(f"{url}/readyz").json()["checks"]["models"] == "ok"
        assert (data / "voxplane.db").exists()
        assert (data / "secret.keys").stat().st_mode & 0o077 == 0  # only the owner reads keys

        made = subprocess.run(
            [*VOXPLANE, "admin", "bootstrap", "--tenant", "acme", "--email", "o@acme.test",
             "--password", "a long secret", "--data-dir", str(data)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        created = json.loads(made.stdout)
        assert set(created) == {"tenant_id", "user_id", "api_key"}
        headers = {"Authorization": f"Bearer {created['api_key']}"}
        own = httpx.get(f"{url}/v1/tenant", headers=headers).json()
        assert (own["id"], own["name"]) == (created["tenant_id"], "acme")
        assert httpx.get(f"{url}/openapi.json").json()["info"]["title"] == "voxplane"

        again = subprocess.run(
            [*VOXPLANE, "admin", "bootstrap", "--tenant", "other", "--email", "o@other.test",
             "--password", "a long secret", "--data-dir", str(data)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert again.returncode == 2
        assert "already bootstrapped" in again.stderr

        # Drain: a request in flight (its body still arriving) when SIGTERM comes finishes;
        # meanwhile /readyz says 503 to new connections, then the port closes.
        upload, rest = _start_import(port, created["api_key"])
        with upload:
            server.send_signal(signal.SIGTERM)
            _poll(lambda: _readyz_draining(url), "/readyz 503 while draining", DRAIN_DELAY_S)
            _poll(lambda: _refused(url), "new connections refused after the drain delay")
            status, imported = _finish(upload, rest)
        assert status == 201, imported
        assert imported["name"] == "acme-dental"
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=30)
    # uvicorn finishes in-flight requests, then re-raises the signal for the process manager
    assert server.returncode in (0, -signal.SIGTERM), stderr
    assert "Finished server process" in stderr
    logs = [line for line in stderr.splitlines() if line.startswith("{")]
    access = [json.loads(line) for line in logs if '"voxplane.access"' in line]
    assert access, stderr
    assert all(entry["request_id"] for entry in access)
    assert created["api_key"] not in stderr
