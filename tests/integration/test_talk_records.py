"""``voxplane talk --server``: the call lands in the calls API, pointing at its version."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import Tenant
from fastapi.testclient import TestClient

from voxplane.agents.loader import load_agent_file
from voxplane.cli.main import main
from voxplane.cli.record import CallRecorder
from voxplane.pipeline.records import CallResult, TurnMetrics, TurnRecord, result_document

EXAMPLE = Path(__file__).parents[2] / "examples" / "agents" / "acme-dental.yaml"


def _result() -> CallResult:
    metrics = TurnMetrics(turn=1, speech_end=1.0, endpoint=1.3, stt_final=1.4)
    metrics.brain_first_text, metrics.tts_first_audio, metrics.first_frame_out = 1.4, 1.45, 1.5
    return CallResult(
        ended_by="agent_hangup",
        turns=[
            TurnRecord("agent", "Thank you for calling.", 0, 1500),
            TurnRecord("user", "I'd like a cleaning.", 2000, 3500),
        ],
        metrics=[metrics],
        caller_audio_ms=1500.0,
        stt_audio_ms=1500.0,
        tts_characters=22,
    )


def test_recorded_call_reads_back_in_the_talk_json_shape(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    client.headers.update(tenant.auth)
    recorder = CallRecorder(client)
    agent = load_agent_file(EXAMPLE)
    result = _result()
    started = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)

    call_id = recorder.record(agent, result, started, started + timedelta(seconds=42))
    call = client.get(f"/v1/calls/{call_id}").json()
    document = result_document(agent.name, result)
    assert call["turns"] == document["turns"]
    assert call["metrics"] == document["metrics"]
    assert call["end_reason"] == "agent_hangup"
    assert call["duration_s"] == pytest.approx(42.0)
    assert call["agent_version"] == 1

    # The same document again: same version. A changed document: a new version.
    assert recorder.agent_version(agent) == (call["agent_id"], 1)
    changed = agent.model_copy(update={"description": "changed"})
    assert recorder.agent_version(changed) == (call["agent_id"], 2)
    listed = client.get("/v1/calls").json()["items"]
    assert [c["id"] for c in listed] == [call_id]


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
