"""Metrics as operators get them: real Prometheus (the Debian package) scrapes a running
``voxplane serve``; the shipped alert rules load and pass their unit tests (promtool); every
query of the shipped Grafana dashboard runs, and the call-stage histograms hold what the
call records said."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_api_agents import acme
from test_serve import VOXPLANE, free_port, wait_ready
from walker import a_call

DEPLOY = Path(__file__).parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "voxplane.json"


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(
            f"{name} is missing: apt-get install -y prometheus (./dev test does it as root)"
        )
    return found


def test_alert_rules_load_and_fire_as_their_unit_tests_say() -> None:
    checked = subprocess.run(
        [tool("promtool"), "check", "rules", str(RULES)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 10 rules found" in checked.stdout
    tested = subprocess.run(
        [tool("promtool"), "test", "rules", "alerts.test.yml"],
        check=False,
        capture_output=True,
        text=True,
        cwd=RULES.parent,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr


@pytest.fixture
def voxplane(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    data = tmp_path / "data"
    server = subprocess.Popen(
        [*VOXPLANE, "serve", "--port", str(port), "--sip-port", "0", "--data-dir", str(data)],
        stderr=subprocess.DEVNULL,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, server)
        made = subprocess.run(
            [*VOXPLANE, "admin", "bootstrap", "--tenant", "acme", "--email", "o@acme.test",
             "--password", "a long secret", "--data-dir", str(data)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        auth = {"Authorization": f"Bearer {json.loads(made.stdout)['api_key']}"}
        agent = httpx.post(f"{url}/v1/agents", json=acme(), headers=auth).json()
        call = a_call(agent["id"])
        call["metrics"] = [
            {"turn": 1, "stt_ms": 300, "brain_ms": 40, "tts_ms": 90, "voice_to_voice_ms": 700},
            {"turn": 2, "stt_ms": 250, "brain_ms": 35, "tts_ms": 80, "voice_to_voice_ms": 650},
        ]
        assert httpx.post(f"{url}/v1/calls", json=call, headers=auth).status_code == 201
        for _ in range(5):
            assert httpx.get(f"{url}/v1/agents/{agent['id']}", headers=auth).status_code == 200
        yield f"127.0.0.1:{port}"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


@pytest.fixture
def prometheus(tmp_path: Path, voxplane: str) -> Iterator[str]:
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        json.dumps(  # JSON is YAML
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(RULES)],
                "scrape_configs": [
                    {"job_name": "voxplane", "static_configs": [{"targets": [voxplane]}]}
                ],
            }
        )
    )
    server = subprocess.Popen(
        [tool("prometheus"), f"--config.file={config}",
         f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        eventually(lambda: httpx.get(f"{url}/-/ready", timeout=2).status_code == 200)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def query(prometheus: str, expr: str) -> list[Any]:
    body = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=5).json()
    assert body["status"] == "success", (expr, body)
    result: list[Any] = body["data"]["result"]
    return result


def eventually(check: Callable[[], Any], timeout_s: float = 60) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            found = check()
        except httpx.TransportError:
            found = None
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError("Prometheus did not get there in time")


def test_prometheus_scrapes_the_server_and_every_dashboard_query_runs(prometheus: str) -> None:
    up = eventually(lambda: query(prometheus, 'up{job="voxplane"} == 1'))
    assert up[0]["value"][1] == "1"

    stages = eventually(lambda: query(prometheus, "voxplane_stage_latency_seconds_count"))
    assert {s["metric"]["stage"]: s["value"][1] for s in stages} == {
        "stt": "2",
        "brain": "2",
        "tts": "2",
        "voice_to_voice": "2",
    }
    v2v = query(prometheus, 'voxplane_stage_latency_seconds_sum{stage="voice_to_voice"}')
    assert float(v2v[0]["value"][1]) == pytest.approx(1.35)
    calls = query(prometheus, "voxplane_calls_total")
    assert [(c["metric"]["end_reason"], c["value"][1]) for c in calls] == [("caller_hangup", "1")]
    routes = {
        r["metric"]["route"]
        for r in query(prometheus, "voxplane_http_request_duration_seconds_count")
    }
    assert {"/v1/agents/{agent_id}", "/v1/calls", "/readyz"} <= routes  # templates, not ids
    assert eventually(lambda: query(prometheus, 'voxplane_queue_depth{queue="outbox"}'))

    rules = eventually(lambda: _evaluated_rules(prometheus))
    assert len(rules) == 10 and all(rule["health"] == "ok" for rule in rules), rules

    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(exprs) >= 12
    for expr in exprs:
        query(prometheus, expr)  # valid PromQL over the real series: status success


def _evaluated_rules(prometheus: str) -> list[Any]:
    groups = httpx.get(f"{prometheus}/api/v1/rules", timeout=5).json()["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    return (
        rules
        if rules and all(rule.get("lastEvaluation", "").startswith("2") for rule in rules)
        else []
    )
