"""voxplane toward a SIP trunk whose far end is sipp: outbound calls that are never answered
still leave a CDR; registration with digest auth; cold transfer by REFER, and by a second
leg bridged through voxplane when the REFER is refused; nothing of one leg, nor any
internal address, leaks toward the trunk."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _peers import (
    Datagram,
    Server,
    SipClient,
    capture,
    decode_ulaw_stream,
    digits_ulaw,
    free_port,
    read_pcap,
    run_server,
    run_sipp,
    scenario,
    sipp_uas,
)

from voxplane.media.rtp import RtpPacket

pytestmark = pytest.mark.e2e

NUMBER = "+15550140"
AGENT: dict[str, Any] = {
    "name": "outbound",
    "stt": {"provider": "scripted", "transcripts": ["Hello."]},
    "tts": {"provider": "scripted", "ms_per_word": 80},
    "turn": {"vad": "energy"},
    "brain": {"type": "scripted", "greeting": "Hello, this is voxplane.", "reply": "Bye."},
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"VOXPLANE_SIP_RING_TIMEOUT_S": "2"}
    with run_server(tmp_path_factory.mktemp("sip-trunk"), extra_env=env) as running:
        yield running


def _dial(server: Server, trunk_port: int, number: str) -> str:
    """A tenant calling from ``number`` through a trunk to 127.0.0.1:``trunk_port``;
    places one call and returns its id."""
    server.setup_tenant(
        AGENT, number, {"name": "carrier", "outbound_address": f"127.0.0.1:{trunk_port}"}
    )
    agent_id = server.api("GET", "/v1/agents")["items"][0]["id"]
    trunk_id = server.api("GET", "/v1/sip-trunks")["items"][0]["id"]
    body = {"agent_id": agent_id, "to": "+14155550100", "from": number, "trunk_id": trunk_id}
    placed = server.api("POST", "/v1/calls/outbound", json=body)
    return str(placed["id"])


@pytest.mark.parametrize(
    ("refusal", "end_reason", "number"),
    [
        ((486, "Busy Here"), "busy", "+15550141"),
        ((603, "Decline"), "declined", "+15550142"),
        ((503, "Unavailable"), "failed", "+15550143"),
    ],
    ids=["486", "603", "503"],
)
def test_a_refused_outbound_call_leaves_a_cdr(
    server: Server, tmp_path: Path, refusal: tuple[int, str], end_reason: str, number: str
) -> None:
    path = scenario(tmp_path, "callee_refuses", status=refusal[0], reason=refusal[1])
    with sipp_uas(path) as callee:
        call_id = _dial(server, callee.port, number)
        assert callee.wait() == 0, callee.messages()[-2000:]
    [call] = server.calls(expected=1)
    assert call["id"] == call_id
    assert (call["direction"], call["end_reason"]) == ("outbound", end_reason)
    assert call["answered_at"] is None and call["turns"] == []
    assert server.api("GET", "/v1/usage")[-1]["call_seconds"] == 0


def test_an_outbound_call_nobody_answers_is_cancelled_and_recorded(
    server: Server, tmp_path: Path
) -> None:
    with sipp_uas(scenario(tmp_path, "callee_never_answers")) as callee:
        call_id = _dial(server, callee.port, "+15550149")
        assert callee.wait() == 0, callee.messages()[-2000:]  # INVITE, 180, CANCEL, 487, ACK
    [call] = server.calls(expected=1)
    assert (call["id"], call["end_reason"], call["answered_at"]) == (call_id, "no_answer", None)
    cancel = next(m for m in callee.received() if m.startswith("CANCEL "))
    invite = next(m for m in callee.received() if m.startswith("INVITE "))
    assert _header(cancel, "Call-ID") == _header(invite, "Call-ID")
    assert _header(cancel, "Via").split("branch=")[1] == _header(invite, "Via").split("branch=")[1]


def _header(message: str, name: str) -> str:
    for line in message.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    raise AssertionError(f"no {name} in {message[:200]}")


# --- cold transfer ---------------------------------------------------------------------

TRANSFER_TARGET = "+14155550100"
TRANSFER_AGENT: dict[str, Any] = {
    "name": "transfers",
    "stt": {"provider": "scripted", "transcripts": ["Hello."]},
    "tts": {"provider": "scripted", "ms_per_word": 60},
    "turn": {"vad": "energy"},
    "brain": {
        "type": "flow",
        "start": "through",
        "nodes": {
            "through": {
                "say": "Let me put you through.",
                "action": {"type": "transfer", "to": TRANSFER_TARGET},
            }
        },
    },
}


def _transfer_tenant(server: Server, number: str, trunk_port: int | None) -> None:
    trunk: dict[str, Any] = {"name": "pbx", "inbound_addresses": ["127.0.0.1/32"]}
    if trunk_port is not None:
        trunk["outbound_address"] = f"127.0.0.1:{trunk_port}"
    server.setup_tenant(TRANSFER_AGENT, number, trunk)


def test_a_transfer_the_caller_accepts_is_a_refer_and_voxplane_leaves(
    server: Server, tmp_path: Path
) -> None:
    number = "+15550150"
    _transfer_tenant(server, number, None)
    path = scenario(tmp_path, "caller_refer_accepted")
    result = run_sipp(path, server, number, free_port(), timeout_s=30)
    assert result.returncode == 0, f"sipp failed:\n{result.stdout[-2000:]}"
    [call] = server.calls(expected=1)
    assert call["end_reason"] == "transfer"
    assert [t["text"] for t in call["turns"]] == ["Let me put you through."]


@pytest.mark.parametrize(
    ("refusal", "number"),
    [((405, "Method Not Allowed"), "+15550151"), ((603, "Decline"), "+15550152")],
    ids=["405", "603"],
)
def test_a_refused_refer_bridges_a_second_leg_through_the_trunk(
    server: Server, tmp_path: Path, refusal: tuple[int, str], number: str
) -> None:
    """The caller refuses REFER: voxplane dials the target through the same trunk and
    relays the two legs' audio (the callee echoes what it hears) until the caller hangs
    up; then it hangs up the callee. Nothing of the caller's leg reaches the trunk."""
    speech = tmp_path / "speech.ulaw"
    speech.write_bytes(digits_ulaw("123"))
    talk_ms = 4000
    caller_path = scenario(
        tmp_path,
        "caller_refer_refused",
        status=refusal[0],
        reason=refusal[1],
        speech=speech,
        talk_ms=talk_ms,
    )
    caller_media = free_port() & ~1
    with sipp_uas(scenario(tmp_path, "callee_answers"), echo=True) as callee:
        _transfer_tenant(server, number, callee.port)
        pcap = tmp_path / "bridge.pcap"
        with capture(pcap, f"udp and (port {caller_media} or port {callee.media_port})"):
            result = run_sipp(caller_path, server, number, caller_media, timeout_s=40)
            assert result.returncode == 0, f"sipp failed:\n{result.stdout[-2000:]}"
            assert callee.wait() == 0, callee.messages()[-3000:]  # INVITE, ACK, BYE
    [call] = server.calls(expected=1)
    assert call["end_reason"] == "transfer"
    assert call["duration_s"] >= talk_ms / 1000  # the record covers the bridged call

    # Audio both ways: the caller's speech reached the callee, and its echo came back.
    datagrams = read_pcap(pcap)
    toward_callee = _rtp_to(datagrams, callee.media_port)
    assert toward_callee, "nothing was relayed to the second leg"
    assert _speech_share(toward_callee) > 0.2
    bridged_at = toward_callee[0][0] + 0.5
    echoed = [(at, p) for at, p in _rtp_to(datagrams, caller_media) if at > bridged_at]
    assert _speech_share(echoed) > 0.2

    # Topology hiding: the second leg carries nothing of the first one.
    [invite] = [m for m in callee.received() if m.startswith("INVITE ")]
    second_leg = _header(invite, "Call-ID")
    sent = "\n".join(callee.received())
    assert _header(invite, "To").startswith(f"<sip:{TRANSFER_TARGET}@127.0.0.1:{callee.port}>")
    assert _header(invite, "From").startswith(f"<sip:{number}@")
    for leaked in ("10.20.30.", "Internal-PBX", "P-Asserted-Identity", "Record-Route", "Route:"):
        assert leaked not in sent, leaked
    assert "+14155550123" not in sent  # the caller's number, From and Contact
    assert set(re.findall(r"\d+\.\d+\.\d+\.\d+", sent)) == {"127.0.0.1"}
    assert second_leg.endswith("@voxplane")  # random: not the caller's Call-ID


def _rtp_to(datagrams: list[Datagram], port: int) -> list[tuple[float, RtpPacket]]:
    return [(d.at, RtpPacket.parse(d.payload)) for d in datagrams if d.dst[1] == port]


def _speech_share(packets: list[tuple[float, RtpPacket]]) -> float:
    """The share of audible samples (speech with its pauses: well above silence's 0)."""
    audio = decode_ulaw_stream(packets)
    return float((np.abs(audio.astype(np.int32)) > 500).mean()) if len(audio) else 0.0


# --- registration --------------------------------------------------------------------------


def test_voxplane_registers_refreshes_and_unregisters_with_digest(tmp_path: Path) -> None:
    """sipp as the trunk's registrar challenges every REGISTER (401) and checks the digest
    (verifyauth): voxplane registers once the trunk is saved, renews before the granted
    6 s run out (every 3 s, until it stops), and un-REGISTERs (Expires: 0) when it shuts
    down."""
    granted = 6
    path = scenario(tmp_path, "registrar", username="acme", password="trunk-pw", expires=granted)
    with sipp_uas(path, timeout_s=60) as registrar:
        with run_server(tmp_path / "data") as server:
            server.setup_tenant(
                AGENT,
                "+15550160",
                {
                    "name": "registered",
                    "inbound_addresses": ["127.0.0.1/32"],
                    "outbound_address": f"127.0.0.1:{registrar.port}",
                    "outbound_auth": {
                        "username": "acme",
                        "password": "trunk-pw",
                        "registrar": f"127.0.0.1:{registrar.port}",
                    },
                },
            )
            deadline = time.monotonic() + 30
            while len(_register_exchanges(registrar)) < 4:  # registered, then refreshed
                assert time.monotonic() < deadline, registrar.messages()[-3000:]
                time.sleep(0.2)
        # the server has stopped: its un-REGISTER completed the registrar's scenario
        assert registrar.wait(20) == 0, registrar.messages()[-3000:]

    registers = _register_exchanges(registrar)
    assert len(registers) >= 6 and len(registers) % 2 == 0
    assert len({_header(m, "Call-ID") for _, m in registers}) == 1  # one binding
    seqs = [int(_header(m, "CSeq").split()[0]) for _, m in registers]
    assert seqs == sorted(set(seqs))  # CSeq goes up
    for index, (_, message) in enumerate(registers):
        assert message.startswith(f"REGISTER sip:127.0.0.1:{registrar.port} SIP/2.0")
        assert _header(message, "To") == "<sip:acme@127.0.0.1>"
        assert _header(message, "Contact").startswith("<sip:acme@127.0.0.1:")
        answered = index % 2 == 1  # every second REGISTER answers the 401
        assert ("Authorization:" in message) == answered
        if answered:
            assert 'username="acme"' in message and "trunk-pw" not in message
    expires = [_header(m, "Expires") for _, m in registers]
    assert expires == ["3600"] * (len(registers) - 2) + ["0"] * 2  # the last: un-REGISTER
    # The refresh came before the granted binding ran out.
    registered_at, refreshed_at = registers[1][0], registers[2][0]
    assert refreshed_at - registered_at < granted
    assert "SIP/2.0 403" not in registrar.messages()


def _register_exchanges(registrar: Any) -> list[tuple[float, str]]:
    """The REGISTERs sipp received, with sipp's timestamps (seconds)."""
    out = []
    for block in registrar.messages().split("-" * 47 + " ")[1:]:
        stamp, _, rest = block.partition("\n")
        kind, _, message = rest.partition("\n")
        if "message received" in kind and message.strip().startswith("REGISTER "):
            clock = stamp.strip().split()[-1]
            hours, minutes, seconds = clock.split(":")
            out.append((int(hours) * 3600 + int(minutes) * 60 + float(seconds), message.strip()))
    return out


# --- topology hiding toward the trunk -------------------------------------------------------


def test_toward_the_trunk_only_the_public_address_names_voxplane(tmp_path: Path) -> None:
    """With a public address set, what voxplane sends a trunk (INVITE, its ACK) names that
    address for itself (Via, Contact, SDP) and never the address it is bound to."""
    public = "203.0.113.9"
    path = scenario(tmp_path, "callee_refuses", status=486, reason="Busy Here")
    env = {"VOXPLANE_SIP_PUBLIC_ADDRESS": public}
    with run_server(tmp_path / "data", extra_env=env) as server, sipp_uas(path) as callee:
        _dial(server, callee.port, "+15550170")
        assert callee.wait() == 0, callee.messages()[-2000:]
    received = callee.received()
    assert [m.split(" ", 1)[0] for m in received] == ["INVITE", "ACK"]
    trunk = f"127.0.0.1:{callee.port}"
    for message in received:
        for line in message.splitlines():
            # the trunk's own address may appear (Request-URI, From, To); ours never
            rest = line.replace(trunk, "<trunk>")
            assert "127.0.0.1" not in rest, line
        assert _header(message, "Via").startswith(f"SIP/2.0/UDP {public}:")
    invite = received[0]
    assert _header(invite, "Contact").startswith(f"<sip:voxplane@{public}:")
    assert f"c=IN IP4 {public}" in invite and f"IN IP4 {public}" in invite.split("o=", 1)[1]


def test_an_answer_without_usable_media_is_acknowledged_then_hung_up(server: Server) -> None:
    """A callee answers 200 with only G.729 in its SDP: voxplane ACKs the 2xx (as RFC 3261
    requires), hangs up with BYE, and records the call as failed."""
    callee = SipClient(server.sip_port)
    try:
        call_id = _dial(server, callee.port, "+15550144")
        invite = _next(callee, "INVITE")
        head = "SIP/2.0 200 OK\r\n" + "".join(
            f"{name}: {value}{';tag=callee9' if name == 'To' else ''}\r\n"
            for name in ("Via", "From", "To", "Call-ID", "CSeq")
            for value in invite.headers.get_all(name)
        )
        body = callee.offer(codecs="18")
        head += (
            f"Contact: <sip:callee@127.0.0.1:{callee.port}>\r\nContent-Type: application/sdp\r\n"
        )
        via = invite.vias[0]
        callee.sock.sendto(
            f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body, (via.host, via.port)
        )
        ack = _next(callee, "ACK")
        bye = _next(callee, "BYE")
        assert ack.to.tag == bye.to.tag == "callee9" and bye.call_id == invite.call_id
    finally:
        callee.close()
    [call] = server.calls(expected=1)
    assert (call["id"], call["end_reason"], call["answered_at"]) == (call_id, "failed", None)


def _next(peer: SipClient, method: str) -> Any:
    for _ in range(20):
        message = peer.receive(10.0)
        assert message is not None, f"no {method}"
        if getattr(message, "method", None) == method:
            return message
    raise AssertionError(f"no {method}")
