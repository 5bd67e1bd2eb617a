"""sipp and baresip call a running ``voxplane serve`` whose agent runs on the real models.

The caller says two digits (real human recordings from FSDD, sent as μ-law RTP by sipp)
after the greeting; the agent gathers them as a two-digit code, reads it back and hangs
up (BYE). The agent's
RTP is captured with tcpdump on ``lo``, decoded and transcribed with Whisper in the test:
what the caller heard must be what the agent said, and the call record read through the
API must hold the same conversation.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _peers import (
    Server,
    capture,
    decode_ulaw_stream,
    digits_ulaw,
    free_port,
    read_pcap,
    rtp_packets,
    run_server,
    run_sipp,
    scenario,
)

from voxplane.media.resample import resample
from voxplane.observability.pii import mask_number
from voxplane.runtime.factory import LocalModels

pytestmark = [pytest.mark.e2e, pytest.mark.models]

NUMBER = "+15550111"
CODE_AGENT: dict[str, Any] = {
    "name": "code-line",
    "turn": {"end_of_speech_ms": 500},
    "call": {"first_message": "Hello, this is the voxplane test line."},
    "brain": {
        "type": "flow",
        "start": "code",
        "nodes": {
            "code": {
                "gather": {
                    "slot": "code",
                    "type": "digits",
                    "min_length": 2,
                    "max_length": 2,
                    "prompt": "Please tell me your two digit code.",
                },
                "next": "done",
            },
            "done": {"say": "Thank you. Your code is {code}.", "action": {"type": "hangup"}},
        },
    },
}


def _words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def test_the_caller_hears_the_agent_and_the_record_matches(tmp_path: Path) -> None:
    models = LocalModels.load()
    with run_server(tmp_path / "data") as server:
        server.setup_tenant(
            CODE_AGENT, NUMBER, {"name": "loopback", "inbound_addresses": ["127.0.0.1/32"]}
        )
        speech = tmp_path / "speech.ulaw"
        speech.write_bytes(digits_ulaw("42"))
        path = scenario(tmp_path, "caller_until_bye", speech=speech, greeting_ms=6000)
        low, high = server.rtp_ports
        pcap = tmp_path / "call.pcap"
        with capture(pcap, f"udp and portrange {low}-{high + 1}"):
            result = run_sipp(path, server, NUMBER, free_port(), timeout_s=60)
        assert result.returncode == 0, f"sipp failed:\n{result.stdout[-2000:]}"
        call = _only_call(server)

    # The record first: what the agent heard and said, then what the caller heard of it.
    assert call["end_reason"] == "agent_hangup"
    assert (call["transport"], call["to_number"]) == ("sip", mask_number(NUMBER))
    turns = [(t["role"], _words(t["text"])) for t in call["turns"]]
    assert turns[0] == ("agent", "hello this is the voxplane test line")
    user = [text for role, text in turns if role == "user"]
    assert user and re.search(r"(42|4 2|four two|forty two)", user[0]), turns
    assert turns[-1] == ("agent", "thank you your code is 42"), turns

    heard = asyncio.run(_transcribe(models, rtp_packets(read_pcap(pcap), range(low, high + 1))))
    assert "test line" in heard  # Piper says "voxplane" as Whisper hears "box playing"
    assert re.search(r"your code is (42|4 2|forty two|four two)", heard), heard


def _only_call(server: Server) -> dict[str, Any]:
    calls = server.calls(expected=1, timeout_s=90)  # model loading on a busy machine
    assert len(calls) == 1
    return calls[0]


async def _transcribe(models: LocalModels, packets: list[Any]) -> str:
    """What the caller heard, one utterance at a time (Whisper tiny hears a short line
    better alone than inside a whole call's audio with its long silences)."""
    audio = decode_ulaw_stream(packets)
    assert len(audio) > 8000 * 3, "less than 3 s of agent audio captured"
    texts = [
        await models.whisper.transcribe(resample(part, 8000, 16000), "en", None)
        for part in _utterances(audio)
    ]
    return _words(" ".join(texts))


def _utterances(audio: np.ndarray[Any, Any], gap_ms: int = 600) -> list[np.ndarray[Any, Any]]:
    """``audio`` (8 kHz) cut at silences of ``gap_ms`` or more, each part kept with 100 ms
    of the silence around it."""
    frame = 160  # 20 ms
    loud = [
        bool(np.abs(audio[i : i + frame].astype(np.int32)).max() > 200)
        for i in range(0, len(audio), frame)
    ]
    parts, start, quiet = [], None, 0
    for index, is_loud in enumerate([*loud, *[False] * (gap_ms // 20)]):
        if is_loud:
            start = index if start is None else start
            quiet = 0
        elif start is not None:
            quiet += 1
            if quiet * 20 >= gap_ms:
                end = index - quiet + 1
                parts.append(audio[max(0, start - 5) * frame : (end + 5) * frame])
                start, quiet = None, 0
    return parts


def test_baresip_dials_in_and_records_what_the_agent_says(tmp_path: Path) -> None:
    """baresip, headless, calls the agent, says "four two" after the greeting and records
    the call: Whisper must hear the code read back in baresip's recording."""
    from _peers import FSDD, run_baresip

    from voxplane.media.wav import decode_wav, encode_wav

    models = LocalModels.load()
    parts = [np.zeros(8000 * 5, np.int16)]
    for digit in "42":
        samples, rate = decode_wav((FSDD / f"{digit}_jackson_1.wav").read_bytes())
        parts += [resample(samples, rate, 8000), np.zeros(2000, np.int16)]
    parts.append(np.zeros(8000 * 15, np.int16))
    microphone = tmp_path / "microphone.wav"
    microphone.write_bytes(encode_wav(np.concatenate(parts), 8000))
    with run_server(tmp_path / "data") as server:
        server.setup_tenant(
            CODE_AGENT, NUMBER, {"name": "loopback", "inbound_addresses": ["127.0.0.1/32"]}
        )
        uri = f"sip:{NUMBER}@127.0.0.1:{server.sip_port}"
        with run_baresip(tmp_path / "baresip", microphone, dial=uri) as phone:
            call = _only_call(server)
    assert call["end_reason"] == "agent_hangup"
    [recording] = phone.recordings("dec")
    samples, rate = decode_wav(recording.read_bytes())
    text = asyncio.run(models.whisper.transcribe(resample(samples, rate, 16000), "en", None))
    heard = _words(text)
    assert "test line" in heard
    assert re.search(r"your code is (42|4 2|forty two|four two)", heard), heard
