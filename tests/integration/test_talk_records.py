"""``voxplane talk --server``: the call lands in the calls API, pointing at its version.

The recording test runs the real command (real local models, a real ``voxplane serve``)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from test_serve import VOXPLANE, free_port, wait_ready

from voxplane.agents.loader import load_agent_file
from voxplane.cli.main import main
from voxplane.cli.record import CallRecorder
from voxplane.media.wav import decode_wav, encode_wav

EXAMPLE = Path(__file__).parents[2] / "examples" / "agents" / "acme-dental.yaml"
FSDD = Path(__file__).resolve().parents[3] / "shared" / "audio" / "fsdd"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A real ``voxplane serve`` on embedded defaults, and an owner API key of its tenant."""
    port, data = free_port(), tmp_path / "data"
    process = subprocess.Popen(
        [*VOXPLANE, "serve", "--port", str(port), "--sip-port", "0", "--data-dir", str(data)],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "VOXPLANE_DRAIN_DELAY_S": "0"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
        made = subprocess.run(
            [*VOXPLANE, "admin", "bootstrap", "--tenant", "acme", "--email", "o@acme.test",
             "--password", "a long secret", "--data-dir", str(data)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        yield url, json.loads(made.stdout)["api_key"]
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)


def _digits(fsdd: Path, names: list[str], out: Path) -> Path:
    """FSDD recordings of one speaker joined by 0.3 s pauses: one caller turn."""
    pause = np.zeros(2400, dtype=np.int16)  # 8 kHz
    parts: list[np.ndarray] = []
    for name in names:
        samples, rate = decode_wav((fsdd / f"{name}.wav").read_bytes())
        assert rate == 8000
        parts += [samples, pause]
    out.write_bytes(encode_wav([np.concatenate(parts)], 8000))
    return out


@pytest.mark.models
def test_talk_records_the_call_on_a_real_server(
    server: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, api_key = server
    if not FSDD.is_dir():
        pytest.fail(f"{FSDD} is missing: this test needs ../shared/audio/fsdd")
    turn = _digits(FSDD, ["4_jackson_0", "2_jackson_1", "7_jackson_0"], tmp_path / "turn.wav")
    out = tmp_path / "call.json"
    argv = ["talk", "--agent", str(EXAMPLE), "--input", str(turn), "--phone", "--json", str(out)]

    assert main([*argv, "--server", url, "--api-key", api_key]) == 0

    recorded = re.search(r"recorded as (\S+) on ", capsys.readouterr().err)
    assert recorded is not None
    auth = {"Authorization": f"Bearer {api_key}"}
    call = httpx.get(f"{url}/v1/calls/{recorded.group(1)}", headers=auth).json()
    document = json.loads(out.read_text())  # what talk itself reports
    assert call["turns"] == document["turns"]
    assert call["metrics"] == document["metrics"]
    counters = ("false_starts", "held_turns", "provider_errors", "soft_barge_ins")
    assert [call[k] for k in counters] == [document[k] for k in counters]
    assert call["end_reason"] == document["ended_by"] == "caller_hangup"
    roles = [t["role"] for t in call["turns"]]
    assert roles[0] == roles[-1] == "agent"  # the greeting, and an answer to the caller
    heard = [t["text"] for t in call["turns"] if t["role"] == "user"]
    assert heard and all(text.strip() for text in heard)  # the digits, as Whisper heard them
    assert call["agent_version"] == 1
    assert call["duration_s"] > 0
    listed = httpx.get(f"{url}/v1/calls", headers=auth).json()["items"]
    assert [c["id"] for c in listed] == [call["id"]]

    # The same document again: same version. A changed document: a new version.
    recorder = CallRecorder.connect(url, api_key)
    try:
        agent = load_agent_file(EXAMPLE)
        assert recorder.agent_version(agent) == (call["agent_id"], 1)
        changed = agent.model_copy(update={"description": "changed"})
        assert recorder.agent_version(changed) == (call["agent_id"], 2)
    finally:
        recorder.close()


def test_talk_with_server_but_no_key_is_one_line_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("VOXPLANE_API_KEY", raising=False)
    wav = Path(__file__).parents[2] / "examples" / "audio" / "acme-caller-1.wav"
    code = main(
        ["talk", "--agent", str(EXAMPLE), "--input", str(wav), "--server", "http://127.0.0.1:9"]
    )
    assert code == 2
    assert "--server needs --api-key" in capsys.readouterr().err


def test_talk_with_unreachable_server_fails_before_loading_models(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    wav = Path(__file__).parents[2] / "examples" / "audio" / "acme-caller-1.wav"
    argv = ["talk", "--agent", str(EXAMPLE), "--input", str(wav)]
    code = main([*argv, "--server", "http://127.0.0.1:9", "--api-key", "vxp_x"])
    err = capsys.readouterr().err
    assert code == 2
    assert "cannot reach http://127.0.0.1:9" in err
    assert "loading models" not in err
