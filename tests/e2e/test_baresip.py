"""baresip, a real SIP softphone, against a running ``voxplane serve``: voxplane places an
outbound call (``POST /v1/calls/outbound``) to an auto-answering baresip whose microphone
plays recorded speech, and baresip records what it hears."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _peers import FSDD, run_baresip, run_server

from voxplane.media.resample import resample
from voxplane.media.wav import decode_wav, encode_wav
from voxplane.observability.pii import mask_number

pytestmark = pytest.mark.e2e

NUMBER = "+15550130"
AGENT: dict[str, Any] = {
    "name": "caller-agent",
    "stt": {"provider": "scripted", "transcripts": ["Four."]},
    "tts": {"provider": "scripted", "ms_per_word": 80},
    "turn": {"vad": "energy"},
    "brain": {
        "type": "scripted",
        "greeting": "Hello, this is voxplane calling.",
        "reply": "Thank you, goodbye.",
        "hang_up_after": 1,
    },
}


def _speech_after_silence(tmp_path: Path, seconds: float = 2.0) -> Path:
    """baresip's microphone: quiet while the agent greets, a spoken digit, then quiet for
    long enough for the agent to answer (baresip hangs up when its file ends)."""
    samples, rate = decode_wav((FSDD / "4_jackson_1.wav").read_bytes())
    speech = resample(samples, rate, 8000)
    path = tmp_path / "microphone.wav"
    path.write_bytes(
        encode_wav(
            np.concatenate(
                [np.zeros(int(8000 * seconds), np.int16), speech, np.zeros(8000 * 15, np.int16)]
            ),
            8000,
        )
    )
    return path


def test_voxplane_calls_an_auto_answering_baresip(tmp_path: Path) -> None:
    with (
        run_server(tmp_path / "server") as server,
        run_baresip(
            tmp_path / "baresip", _speech_after_silence(tmp_path), user="+15550199"
        ) as phone,
    ):
        server.setup_tenant(
            AGENT,
            NUMBER,
            {"name": "softphone", "outbound_address": f"127.0.0.1:{phone.port}"},
        )
        agent_id = server.api("GET", "/v1/agents")["items"][0]["id"]
        trunk_id = server.api("GET", "/v1/sip-trunks")["items"][0]["id"]
        body = {"agent_id": agent_id, "to": "+15550199", "from": NUMBER, "trunk_id": trunk_id}
        placed = server.http.post(
            "/v1/calls/outbound", json=body, headers={"Authorization": f"Bearer {server.key}"}
        )
        assert placed.status_code == 202, placed.text
        call_id = placed.json()["id"]
        [call] = server.calls(expected=1, timeout_s=40)
        time.sleep(0.5)
        assert server.alive()

    assert call["id"] == call_id
    assert (call["direction"], call["transport"]) == ("outbound", "sip")
    assert (call["from_number"][-2:], call["to_number"]) == (NUMBER[-2:], mask_number("+15550199"))
    assert call["end_reason"] == "agent_hangup", phone.log()[-2000:]
    said = [(t["role"], t["text"]) for t in call["turns"]]
    assert said == [
        ("agent", "Hello, this is voxplane calling."),
        ("user", "Four."),
        ("agent", "Thank you, goodbye."),
    ]
    [heard] = phone.recordings("dec")
    samples, _ = decode_wav(heard.read_bytes())
    assert (np.abs(samples.astype(np.int32)) > 1000).mean() > 0.05, "baresip heard nothing"


def test_baresip_dials_voxplane_and_records_the_agent(tmp_path: Path) -> None:
    inbound = "+15550131"
    with run_server(tmp_path / "server") as server:
        server.setup_tenant(
            AGENT, inbound, {"name": "softphones", "inbound_addresses": ["127.0.0.1/32"]}
        )
        uri = f"sip:{inbound}@127.0.0.1:{server.sip_port}"
        microphone = _speech_after_silence(tmp_path)
        with run_baresip(tmp_path / "baresip", microphone, dial=uri) as phone:
            [call] = server.calls(expected=1, timeout_s=60)
            time.sleep(0.5)
        assert server.alive()

    assert (call["direction"], call["to_number"], call["end_reason"]) == (
        "inbound",
        mask_number(inbound),
        "agent_hangup",
    )
    assert [t["role"] for t in call["turns"]] == ["agent", "user", "agent"]
    [heard] = phone.recordings("dec")
    samples, _ = decode_wav(heard.read_bytes())
    assert (np.abs(samples.astype(np.int32)) > 1000).mean() > 0.05, "baresip heard nothing"
