"""``voxplane serve`` as a real process: embedded defaults, bootstrap, graceful shutdown."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

VOXPLANE = [sys.executable, "-m", "voxplane.cli.main"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_ready(url: str, process: subprocess.Popen[str]) -> None:
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


def test_serve_on_embedded_defaults_then_drain_on_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    data = tmp_path / "data"
    server = subprocess.Popen(
        [*VOXPLANE, "serve", "--port", str(port), "--data-dir", str(data)],
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, server)
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
