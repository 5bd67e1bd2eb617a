"""``voxplane talk`` refuses bad input with one clear line, before loading any model."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from voxplane.cli.main import main
from voxplane.media.wav import encode_wav

REPO_ROOT = Path(__file__).resolve().parents[3]
AGENT = REPO_ROOT / "examples" / "agents" / "acme-dental.yaml"


def _speech(seconds: float = 1.0, rate: int = 16_000, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    wave = np.sin(2 * np.pi * 300 * t) * amplitude * 32767
    return wave.clip(-32768, 32767).astype(np.int16)


def _talk(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["talk", *args])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def _wav(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


BAD_WAVS = {
    "empty": (b"", "empty"),
    "corrupt": (b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk", "wav"),
    "not-a-wav": (b"ID3\x03\x00 this is an mp3, honest" * 20, "not a wav"),
    "silent": (encode_wav(np.zeros(16_000, np.int16), 16_000), "only silence"),
    "clipped": (encode_wav(_speech(amplitude=4.0), 16_000), "clipped"),
    "huge": (encode_wav(_speech(121.0, rate=8000), 8000), "limit is 120 s"),
}


@pytest.mark.parametrize("case", sorted(BAD_WAVS))
def test_bad_caller_audio_is_refused_with_a_clear_message(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, expected = BAD_WAVS[case]
    wav = _wav(tmp_path, f"{case}.wav", data)
    code, err = _talk(capsys, "--agent", str(AGENT), "--input", str(wav))
    assert code == 2
    assert err.startswith("voxplane: error: ") and str(wav) in err
    assert expected in err.lower()
    assert err.count("\n") == 1


def test_absurd_sample_rate_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = bytearray(encode_wav(_speech(), 16_000))
    data[24:28] = struct.pack("<I", 1)  # the fmt chunk's sample rate: 1 Hz
    wav = _wav(tmp_path, "one-hertz.wav", bytes(data))
    code, err = _talk(capsys, "--agent", str(AGENT), "--input", str(wav))
    assert code == 2 and "sample rate" in err.lower() and "1" in err


def test_missing_input_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.wav"
    code, err = _talk(capsys, "--agent", str(AGENT), "--input", str(missing))
    assert code == 2 and str(missing) in err and "cannot read" in err


def test_malformed_agent_yaml_names_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    agent = tmp_path / "broken.yaml"
    agent.write_text("name: x\nbrain:\n  type: flow\n  start: [unclosed\n")
    wav = _wav(tmp_path, "ok.wav", encode_wav(_speech(), 16_000))
    code, err = _talk(capsys, "--agent", str(agent), "--input", str(wav))
    assert code == 2 and f"{agent}:" in err and "invalid yaml" in err.lower()


def test_invalid_agent_names_the_field_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = AGENT.read_text().replace("end_of_speech_ms: 300", "end_of_speech_ms: 5")
    agent = tmp_path / "agent.yaml"
    agent.write_text(text)
    line = 1 + text.splitlines().index("  end_of_speech_ms: 5")
    wav = _wav(tmp_path, "ok.wav", encode_wav(_speech(), 16_000))
    code, err = _talk(capsys, "--agent", str(agent), "--input", str(wav))
    assert code == 2
    assert f"{agent}:{line}: turn.end_of_speech_ms:" in err and "(got 5)" in err


def test_flow_graph_errors_name_the_line_of_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = AGENT.read_text().replace("to: existing_patient}", "to: existing_patien}")
    agent = tmp_path / "agent.yaml"
    agent.write_text(text)
    lines = [i + 1 for i, line in enumerate(text.splitlines()) if "existing_patien}" in line]
    wav = _wav(tmp_path, "ok.wav", encode_wav(_speech(), 16_000))
    code, err = _talk(capsys, "--agent", str(agent), "--input", str(wav))
    assert code == 2
    assert f"{agent}:{lines[0]}: brain.nodes.welcome.transitions[0].to: unknown node" in err
    assert f"{agent}:{lines[1]}: brain.nodes.more.transitions[0].to: unknown node" in err


LLM_AGENT = """
name: llm-agent
brain:
  type: llm
  provider: {provider}
  model: some-model
  prompt: You are a receptionist.
{extra}
"""
BAD_LLM_AGENTS = {
    "unknown provider": ("mistral", "", "brain.provider"),
    "missing key": ("openai", "", "brain.api_key_env: openai needs an API key"),
    "unset key variable": (
        "anthropic",
        "  api_key_env: VOXPLANE_TEST_UNSET_KEY",
        "brain.api_key_env: the environment variable VOXPLANE_TEST_UNSET_KEY is not set",
    ),
    "unreachable base url": (
        "openai",
        "  base_url: http://127.0.0.1:9/v1",
        "brain.base_url: cannot reach http://127.0.0.1:9/v1",
    ),
    "stored credential in talk": (
        "openai",
        "  credential: openai-prod",
        "brain.credential: stored credentials are for voxplane serve",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_LLM_AGENTS))
def test_a_bad_llm_agent_is_one_line_naming_the_field_before_models_load(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    provider, extra, expected = BAD_LLM_AGENTS[case]
    agent = _wav(tmp_path, "agent.yaml", LLM_AGENT.format(provider=provider, extra=extra).encode())
    wav = _wav(tmp_path, "turn.wav", encode_wav(_speech(), 16_000))
    code, err = _talk(capsys, "--agent", str(agent), "--input", str(wav))
    assert code == 2
    assert expected in err
    assert err.count("\n") == 1 and "loading models" not in err
