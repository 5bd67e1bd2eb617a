"""sipp calls a running ``voxplane serve``: speech, RFC 2833 keys, hang-up; the agent's RTP
is captured on ``lo`` and checked; the call record is read back through the API.

This variant runs the agent on the scripted providers (no models): what it proves is the
telephony path (SIP, SDP, RTP both ways, DTMF, CDR), fast.
"""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _peers import (
    SIPP_PCAPS,
    Server,
    capture,
    decode_ulaw_stream,
    digits_ulaw,
    free_port,
    free_sip_port,
    need,
    read_pcap,
    rtp_packets,
    run_server,
    run_sipp,
    scenario,
)

from voxplane.observability.pii import mask_number

pytestmark = pytest.mark.e2e

NUMBER = "+15550100"
SCRIPTED_AGENT: dict[str, Any] = {
    "name": "scripted",
    "stt": {"provider": "scripted", "transcripts": ["I would like to book a cleaning."]},
    "tts": {"provider": "scripted", "ms_per_word": 80},
    "turn": {"vad": "energy"},
    "brain": {"type": "scripted", "greeting": "Hello caller.", "reply": "Of course, let me see."},
}
LOOPBACK_TRUNK = {"name": "loopback", "inbound_addresses": ["127.0.0.1/32"]}


@pytest.fixture
def server(tmp_path: Path) -> Any:
    with run_server(tmp_path / "data") as running:
        yield running


def _call(server: Server, tmp_path: Path, speech: bytes) -> tuple[Any, list[Any]]:
    speech_file = tmp_path / "speech.ulaw"
    speech_file.write_bytes(speech)
    path = scenario(
        tmp_path,
        "caller",
        speech=speech_file,
        greeting_ms=1500,
        speech_ms=len(speech) // 8 + 2500,  # the reply plays out before the keys
        key1=SIPP_PCAPS / "dtmf_2833_1.pcap",
        key2=SIPP_PCAPS / "dtmf_2833_pound.pcap",
        after_ms=2500,
    )
    low, high = server.rtp_ports
    pcap = tmp_path / "call.pcap"
    with capture(pcap, f"udp and portrange {low}-{high + 1}"):
        result = run_sipp(path, server, NUMBER, free_port())
    return result, read_pcap(pcap)


def test_sipp_call_speech_keys_and_hangup_with_scripted_agent(
    server: Server, tmp_path: Path
) -> None:
    server.setup_tenant(SCRIPTED_AGENT, NUMBER, LOOPBACK_TRUNK)
    result, datagrams = _call(server, tmp_path, digits_ulaw("42"))
    assert result.returncode == 0, f"sipp failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"

    # The agent's RTP: one SSRC, sequence +1 and timestamp +160 per packet, marker first,
    # every 20 ms, carrying real audio (the greeting and the reply) between silence.
    low, high = server.rtp_ports
    sent = rtp_packets(datagrams, range(low, high + 1))
    assert len(sent) > 150, f"only {len(sent)} RTP packets from voxplane"
    packets = [p for _, p in sent]
    assert {p.ssrc for p in packets} == {packets[0].ssrc}
    assert packets[0].marker and not any(p.marker for p in packets[1:])
    for before, after in itertools.pairwise(packets):
        assert (after.sequence - before.sequence) % 2**16 == 1
        assert (after.timestamp - before.timestamp) % 2**32 == 160
    assert all(p.payload_type == 0 and len(p.payload) == 160 for p in packets)
    span = sent[-1][0] - sent[0][0]
    assert abs(span - 0.02 * (len(sent) - 1)) < 0.5  # paced at 20 ms, no bursts
    audio = decode_ulaw_stream(sent)
    loud = np.abs(audio.astype(np.int32)) > 1000
    assert loud.mean() > 0.03, "the agent said nothing"

    # RTCP went out too (the first report comes within 7.5 s; the call lasts longer).
    assert any(d.src[1] % 2 == 1 and d.src[1] in range(low, high + 2) for d in datagrams)

    [call] = server.calls(expected=1)
    masked = mask_number(NUMBER)  # the tenant's default PII policy: redact
    assert (call["transport"], call["direction"], call["to_number"]) == ("sip", "inbound", masked)
    assert call["end_reason"] == "caller_hangup"
    said = [(t["role"], t["text"]) for t in call["turns"]]
    assert said[0] == ("agent", "Hello caller.")
    assert ("user", "I would like to book a cleaning.") in said
    assert ("agent", "Of course, let me see.") in said
    keys = server.log.read_text().count('"sip dtmf"')
    assert keys == 2, f"{keys} key presses reached the call, not 2"
    assert server.alive()


def test_a_source_no_trunk_allows_gets_403_and_an_unknown_number_404(
    server: Server, tmp_path: Path
) -> None:
    server.setup_tenant(
        SCRIPTED_AGENT, NUMBER, {"name": "elsewhere", "inbound_addresses": ["192.0.2.0/24"]}
    )
    forbidden = run_sipp(scenario(tmp_path, "rejected", status=403), server, NUMBER, free_port())
    assert forbidden.returncode == 0, forbidden.stdout[-2000:]
    unknown = run_sipp(scenario(tmp_path, "rejected", status=404), server, "+15550199", free_port())
    assert unknown.returncode == 0, unknown.stdout[-2000:]
    assert server.calls(expected=0, timeout_s=0) == []


KEYPAD_AGENT: dict[str, Any] = {
    "name": "keypad",
    "stt": {"provider": "scripted", "transcripts": ["Hmm."]},
    "tts": {"provider": "scripted", "ms_per_word": 60},
    "turn": {"vad": "energy"},
    "call": {"first_message": "Hello."},
    "brain": {
        "type": "flow",
        "start": "code",
        "nodes": {
            "code": {
                "gather": {
                    "slot": "code",
                    "type": "digits",
                    "max_length": 4,
                    "prompt": "Key in your code, then the pound key.",
                    "max_retries": 5,
                },
                "next": "done",
            },
            "done": {"say": "Your code is {code}.", "action": {"type": "hangup"}},
        },
    },
}


def test_rfc_2833_keys_from_sipp_reach_the_agents_flow(server: Server, tmp_path: Path) -> None:
    """sipp presses 1 then # (its shipped RFC 2833 pcaps): the digits gather completes and
    the agent reads the code back."""
    server.setup_tenant(KEYPAD_AGENT, NUMBER, LOOPBACK_TRUNK)
    result, _ = _call(server, tmp_path, digits_ulaw("4"))
    # sipp counts the agent's BYE, which comes while it still pauses, as a failed call (1)
    assert result.returncode in (0, 1), result.stdout[-2000:]
    [call] = server.calls(expected=1)
    said = [(t["role"], t["text"]) for t in call["turns"]]
    assert ("agent", "Your code is 1.") in said, said
    assert call["end_reason"] == "agent_hangup"


def test_the_documented_sipp_one_liner_reaches_the_agent(server: Server) -> None:
    """docs/telephony.md: ``sipp 127.0.0.1:5060 -sn uac -s +15550100 -m 1 -d 3000 -i 127.0.0.1``."""
    server.setup_tenant(SCRIPTED_AGENT, NUMBER, LOOPBACK_TRUNK)
    command = [
        need("sipp"), f"127.0.0.1:{server.sip_port}", "-sn", "uac", "-s", NUMBER, "-m", "1",
        "-d", "3000", "-i", "127.0.0.1", "-p", str(free_sip_port()), "-mp", str(free_port()),
        "-nostdin", "-timeout", "30s",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=45, check=False)
    assert result.returncode == 0, result.stdout[-2000:]
    [call] = server.calls(expected=1)
    assert call["end_reason"] == "caller_hangup"
    assert (call["turns"][0]["role"], call["turns"][0]["text"]) == ("agent", "Hello caller.")
