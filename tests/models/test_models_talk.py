"""``voxplane talk`` end to end: a 44.1 kHz stereo WAV in, JSON and a stereo WAV out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from voxplane.cli.main import main
from voxplane.media.resample import resample
from voxplane.media.wav import decode_wav, encode_wav

REPO_ROOT = Path(__file__).resolve().parents[2]
AGENT = REPO_ROOT / "examples" / "agents" / "acme-dental.yaml"
QUESTION = REPO_ROOT / "examples" / "audio" / "acme-caller-1.wav"  # "…opening hours?"


def test_talk_writes_the_documented_json_and_a_stereo_recording(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mono, rate = decode_wav(QUESTION.read_bytes())
    cd = resample(mono, rate, 44_100)
    stereo = tmp_path / "question-44k-stereo.wav"
    stereo.write_bytes(encode_wav([cd, (cd // 2).astype(np.int16)], 44_100))
    out_json, out_wav = tmp_path / "call.json", tmp_path / "call.wav"

    outputs = ["--json", str(out_json), "--output", str(out_wav)]
    code = main(["talk", "--agent", str(AGENT), "--input", str(stereo), "--phone", *outputs])

    assert code == 0
    printed = capsys.readouterr().out
    assert "transcript" in printed and "voice-to-voice" in printed
    result = json.loads(out_json.read_text())
    assert set(result) == {
        "agent",
        "ended_by",
        "false_starts",
        "held_turns",
        "provider_errors",
        "soft_barge_ins",
        "resumed_after_backchannel",
        "turns",
        "metrics",
    }
    assert (result["false_starts"], result["held_turns"]) == (0, 0)
    assert result["provider_errors"] == {}
    assert result["agent"] == "acme-dental" and result["ended_by"] == "caller_hangup"
    roles = [t["role"] for t in result["turns"]]
    assert roles == ["agent", "user", "agent"]
    for turn in result["turns"]:
        assert set(turn) == {"role", "text", "start_ms", "end_ms", "interrupted"}
        assert 0 <= turn["start_ms"] < turn["end_ms"]
    assert "hours" in result["turns"][1]["text"].lower()
    assert "8 am to 5 pm" in result["turns"][2]["text"]
    (metrics,) = result["metrics"]
    assert set(metrics) == {"turn", "stt_ms", "brain_ms", "tts_ms", "voice_to_voice_ms"}
    assert metrics["voice_to_voice_ms"] > 0

    recording, recorded_rate = decode_wav(out_wav.read_bytes())
    assert recorded_rate == 8000  # --phone records the line at telephone rate
    raw = out_wav.read_bytes()
    assert int.from_bytes(raw[22:24], "little") == 2  # two channels: caller, agent
    assert len(recording) / recorded_rate > 5
