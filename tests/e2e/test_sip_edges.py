"""The SIP endpoint of a running ``voxplane serve`` at the protocol's edges, driven by a raw
UDP peer: OPTIONS, malformed input, no common codec, CANCEL, digest challenges, hold and
unhold, the tenant's call limit, and a flood of junk during a live call."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _peers import Server, SipClient, free_sip_port, run_server

from voxplane.media.rtp import RtpPacket
from voxplane.transports.sip.digest import Challenge, Credentials, DigestVerifier, authorize
from voxplane.transports.sip.sdp import parse_sdp

pytestmark = pytest.mark.e2e

OPEN, AUTHED, LIMITED, TRANSFER = "+15550120", "+15550121", "+15550122", "+15550123"
AGENT: dict[str, Any] = {
    "name": "scripted",
    "stt": {"provider": "scripted", "transcripts": ["Hello."]},
    "tts": {"provider": "scripted", "ms_per_word": 80},
    "turn": {"vad": "energy"},
    "call": {"silence_timeout_ms": 60_000},
    "brain": {
        "type": "scripted",
        "greeting": "Hello caller, how can I help you today?",
        "reply": "Sure.",
    },
}
LOOPBACK = ["127.0.0.1/32"]
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
                "action": {"type": "transfer", "to": "+14155550100"},
            }
        },
    },
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with run_server(tmp_path_factory.mktemp("sip-edges")) as running:
        running.setup_tenant(
            AGENT,
            AUTHED,
            {
                "name": "pbx",
                "inbound_addresses": LOOPBACK,
                "inbound_auth": {"username": "pbx", "password": "s3cret-pw"},
            },
        )
        running.setup_tenant(
            AGENT,
            LIMITED,
            {"name": "t", "inbound_addresses": LOOPBACK},
            {"max_concurrent_calls": 1},
        )
        running.setup_tenant(
            TRANSFER_AGENT, TRANSFER, {"name": "loopback", "inbound_addresses": LOOPBACK}
        )
        running.setup_tenant(AGENT, OPEN, {"name": "loopback", "inbound_addresses": LOOPBACK})
        yield running


@pytest.fixture
def peer(server: Server) -> Iterator[SipClient]:
    client = SipClient(server.sip_port)
    yield client
    client.close()


def _ids() -> tuple[str, str]:
    return secrets.token_hex(8), "z9hG4bK" + secrets.token_hex(8)


def _establish(peer: SipClient, number: str) -> tuple[str, str, int]:
    """An answered, acknowledged call: (call id, our dialog's remote tag, next CSeq)."""
    call_id, branch = _ids()
    peer.request("INVITE", number, call_id=call_id, cseq=1, branch=branch, body=peer.offer())
    answer = peer.final()
    assert answer is not None and answer.status == 200, answer
    tag = answer.to.tag
    peer.request("ACK", number, call_id=call_id, cseq=1, branch=_ids()[1], to_tag=tag)
    peer.remote_rtp = parse_sdp(answer.body).media[0].port
    return call_id, tag, 2


def _bye(peer: SipClient, number: str, call_id: str, tag: str, cseq: int) -> None:
    peer.request("BYE", number, call_id=call_id, cseq=cseq, branch=_ids()[1], to_tag=tag)
    response = peer.final()
    assert response is not None and response.status == 200


def test_options_and_malformed_requests(server: Server, peer: SipClient) -> None:
    call_id, branch = _ids()
    peer.request("OPTIONS", OPEN, call_id=call_id, cseq=1, branch=branch)
    response = peer.final()
    assert response.status == 200 and "INVITE" in (response.headers.get("Allow") or "")

    # A request whose headers parse but lack CSeq: 400, addressed from what did parse.
    peer.send(
        f"INVITE sip:{OPEN}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{peer.port};"
        f"branch=z9hG4bKbad\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:{OPEN}@c>\r\n"
        "Call-ID: x\r\nContent-Length: 0\r\n\r\n".encode()
    )
    answer = peer.receive_raw()
    assert answer is not None and answer.startswith(b"SIP/2.0 400 "), answer
    # Bytes that are not SIP at all: dropped, nothing comes back, the server lives.
    for junk in (b"\x00\xff" * 40, b"INVITE", b"SIP/2.0 200 OK\r\n\r\n", os.urandom(1200)):
        peer.send(junk)
    assert peer.receive_raw(0.5) is None
    assert server.alive()


def test_no_common_codec_is_488(peer: SipClient) -> None:
    call_id, branch = _ids()
    body = peer.offer(codecs="18")
    peer.request("INVITE", OPEN, call_id=call_id, cseq=1, branch=branch, body=body)
    assert peer.final().status == 488


def test_cancel_before_the_answer_is_487(peer: SipClient) -> None:
    call_id, branch = _ids()
    peer.request("INVITE", OPEN, call_id=call_id, cseq=1, branch=branch, body=peer.offer())
    peer.request("CANCEL", OPEN, call_id=call_id, cseq=1, branch=branch)
    statuses = {}
    for _ in range(2):
        message = peer.final()
        statuses[message.cseq.method] = message.status
    assert statuses == {"CANCEL": 200, "INVITE": 487}


def test_digest_challenge_then_the_right_password_connects(peer: SipClient) -> None:
    call_id, branch = _ids()
    peer.request("INVITE", AUTHED, call_id=call_id, cseq=1, branch=branch, body=peer.offer())
    challenge = peer.final()
    assert challenge.status == 401
    parsed = Challenge.parse(challenge.headers.get("WWW-Authenticate"))
    uri = f"sip:{AUTHED}@127.0.0.1:{peer.server[1]}"

    def attempt(password: str, cseq: int) -> Any:
        creds = authorize(
            parsed, username="pbx", password=password, method="INVITE", uri=uri, nc=cseq
        )
        peer.request(
            "INVITE", AUTHED, call_id=call_id, cseq=cseq, branch=_ids()[1], body=peer.offer(),
            extra=(("Authorization", creds.encode()),),
        )  # fmt: skip
        return peer.final()

    assert attempt("wrong", 2).status == 403
    answered = attempt("s3cret-pw", 3)
    assert answered.status == 200
    tag = answered.to.tag
    peer.request("ACK", AUTHED, call_id=call_id, cseq=3, branch=_ids()[1], to_tag=tag)
    _bye(peer, AUTHED, call_id, tag, 4)


def test_hold_stops_the_agents_audio_and_unhold_resumes_it(peer: SipClient) -> None:
    call_id, tag, cseq = _establish(peer, OPEN)
    assert peer.rtp_count(1.0) > 30  # 50 packets a second, silence included
    for direction, answered, flowing in (
        ("sendonly", "a=recvonly", False),
        ("sendrecv", "a=sendrecv", True),
    ):
        branch = _ids()[1]
        peer.request(
            "INVITE",
            OPEN,
            call_id=call_id,
            cseq=cseq,
            branch=branch,
            to_tag=tag,
            body=peer.offer(direction=direction),
        )
        response = peer.final()
        assert response.status == 200 and answered in response.body.decode()
        peer.request("ACK", OPEN, call_id=call_id, cseq=cseq, branch=_ids()[1], to_tag=tag)
        cseq += 1
        peer.rtp_count(0.3)  # what was in flight
        count = peer.rtp_count(1.0)
        assert (count > 30) if flowing else (count == 0), (direction, count)
    _bye(peer, OPEN, call_id, tag, cseq)


def test_over_the_tenants_call_limit_is_486(server: Server, peer: SipClient) -> None:
    call_id, tag, cseq = _establish(peer, LIMITED)
    second = SipClient(server.sip_port)
    try:
        other, branch = _ids()
        second.request("INVITE", LIMITED, call_id=other, cseq=1, branch=branch, body=second.offer())
        assert second.final().status == 486
    finally:
        second.close()
    _bye(peer, LIMITED, call_id, tag, cseq)


def test_a_flood_of_junk_and_half_open_invites_leaves_a_live_call_alone(
    server: Server, peer: SipClient, tmp_path: Path
) -> None:
    call_id, tag, cseq = _establish(peer, OPEN)
    flooder = SipClient(server.sip_port)
    try:
        started = time.monotonic()
        for i in range(3000):
            flooder.send(
                os.urandom(200 + i % 700) if i % 3 else b"INVITE sip:x SIP/2.0\r\nVia: junk\r\n\r\n"
            )
        for i in range(2000):  # and at the call's RTP and RTCP ports: junk, and forged
            port = peer.remote_rtp + i % 2  # RTP that must not take the stream over
            forged = RtpPacket(0, secrets.randbelow(65536), i * 160, 7, b"\xff" * 160)
            junk = forged.encode() if i % 4 == 0 else os.urandom(12 + i % 300)
            flooder.rtp.sendto(junk, ("127.0.0.1", port))
        for _ in range(100):  # INVITEs that are never ACKed nor answered
            junk_id, branch = _ids()
            flooder.request(
                "INVITE", "+15559999", call_id=junk_id, cseq=1, branch=branch, body=flooder.offer()
            )
        flood_s = time.monotonic() - started
        # Meanwhile and after, the call's audio keeps its 20 ms cadence.
        assert peer.rtp_count(2.0) > 80, f"flood took {flood_s:.2f}s"
    finally:
        flooder.close()
    _bye(peer, OPEN, call_id, tag, cseq)
    assert server.alive()
    records = server.calls(expected=1)
    assert any(r["end_reason"] == "caller_hangup" for r in records)


def test_the_agent_transfers_with_refer_and_leaves_once_notified(peer: SipClient) -> None:
    call_id, _, _ = _establish(peer, TRANSFER)
    refer = peer.receive(10.0)
    while refer is not None and getattr(refer, "method", None) != "REFER":
        refer = peer.receive(10.0)
    assert refer is not None, "no REFER"
    assert refer.headers.get("Refer-To") == f"<sip:+14155550100@127.0.0.1:{peer.port}>"
    assert "127.0.0.1" in refer.headers.get("Referred-By")
    peer.send(_response(refer, 202, "Accepted"))
    notify = (
        f"NOTIFY sip:voxplane@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{peer.port};branch={_ids()[1]}\r\n"
        f"From: {refer.headers.get('To')}\r\nTo: {refer.headers.get('From')}\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 2 NOTIFY\r\nEvent: refer\r\n"
        "Subscription-State: terminated;reason=noresource\r\n"
        "Content-Type: message/sipfrag;version=2.0\r\n"
    )
    frag = b"SIP/2.0 200 OK\r\n"
    peer.send(notify.encode() + f"Content-Length: {len(frag)}\r\n\r\n".encode() + frag)
    answered = bye = None
    deadline = time.monotonic() + 10
    while (answered is None or bye is None) and time.monotonic() < deadline:
        message = peer.receive(2.0)
        if getattr(message, "status", None) == 200:
            answered = message
        elif getattr(message, "method", None) == "BYE":
            bye = message
            peer.send(_response(message, 200, "OK"))
    assert answered is not None and answered.cseq.method == "NOTIFY"
    assert bye is not None, "voxplane stayed on the line after the transfer"


def _response(request: Any, status: int, reason: str) -> bytes:
    head = f"SIP/2.0 {status} {reason}\r\n"
    for name in ("Via", "From", "To", "Call-ID", "CSeq"):
        for value in request.headers.get_all(name):
            head += f"{name}: {value}\r\n"
    return (head + "Content-Length: 0\r\n\r\n").encode()


def test_sip_over_tls_with_a_configured_certificate(tmp_path: Path) -> None:
    import datetime as dt
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "voxplane.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("voxplane.test")]), False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "sip.crt", tmp_path / "sip.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    tls_port = free_sip_port()
    env = {
        "VOXPLANE_SIP_TLS_CERT": str(cert_file),
        "VOXPLANE_SIP_TLS_KEY": str(key_file),
        "VOXPLANE_SIP_TLS_PORT": str(tls_port),
    }
    with run_server(tmp_path / "data", extra_env=env):
        context = ssl.create_default_context(cafile=str(cert_file))
        with (
            socket.create_connection(("127.0.0.1", tls_port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname="voxplane.test") as tls,
        ):
            options = (
                "OPTIONS sip:voxplane@voxplane.test SIP/2.0\r\n"
                "Via: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bKtls1\r\n"
                "From: <sip:probe@voxplane.test>;tag=1\r\nTo: <sip:voxplane@voxplane.test>\r\n"
                "Call-ID: tls-probe\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
            )
            tls.sendall(options.encode())
            answer = tls.recv(4096)
    assert answer.startswith(b"SIP/2.0 200 OK\r\n"), answer


def test_the_200_is_resent_until_the_ack_arrives(peer: SipClient) -> None:
    call_id, branch = _ids()
    peer.request("INVITE", OPEN, call_id=call_id, cseq=1, branch=branch, body=peer.offer())
    first = peer.final()
    assert first.status == 200
    again = [m for m in iter(lambda: peer.receive(1.8), None) if getattr(m, "status", 0) == 200]
    assert len(again) >= 2  # T1 = 0.5 s, then 1 s: two retransmissions within ~1.8 s
    assert all(m.to.tag == first.to.tag for m in again)
    peer.request("ACK", OPEN, call_id=call_id, cseq=1, branch=_ids()[1], to_tag=first.to.tag)
    time.sleep(0.3)
    while peer.receive(0.1) is not None:  # what crossed the ACK in flight
        pass
    assert peer.receive(2.5) is None  # acknowledged: no more 200s
    _bye(peer, OPEN, call_id, first.to.tag, 2)


def test_an_outbound_call_answers_the_trunks_digest_challenge(
    server: Server, peer: SipClient
) -> None:
    """A raw UAS as the carrier: 401 with a challenge, then 200 for the right credentials."""
    verifier = DigestVerifier("carrier.test", secrets.token_bytes(16))
    number = "+15550124"
    server.setup_tenant(
        AGENT,
        number,
        {
            "name": "carrier",
            "outbound_address": f"127.0.0.1:{peer.port}",
            "outbound_auth": {"username": "acme", "password": "carrier-pw"},
        },
    )
    agent_id = server.api("GET", "/v1/agents")["items"][0]["id"]
    trunk_id = server.api("GET", "/v1/sip-trunks")["items"][0]["id"]
    body = {"agent_id": agent_id, "to": "+14155550100", "from": number, "trunk_id": trunk_id}
    placed = server.http.post(
        "/v1/calls/outbound", json=body, headers={"Authorization": f"Bearer {server.key}"}
    )
    assert placed.status_code == 202, placed.text

    first = _next_request(peer, "INVITE")
    assert first.uri == f"sip:+14155550100@127.0.0.1:{peer.port}"
    assert "Authorization" not in dict(first.headers.items)
    challenge = ("WWW-Authenticate", verifier.challenge(time.time()).encode())
    peer.sock.sendto(_reply(first, 401, "Unauthorized", challenge), _source(first))
    assert _next_request(peer, "ACK").cseq.seq == first.cseq.seq
    second = _next_request(peer, "INVITE")
    assert second.cseq.seq == first.cseq.seq + 1 and second.call_id == first.call_id
    creds = Credentials.parse(second.headers.get("Authorization"))
    verdict = verifier.verify(creds, password="carrier-pw", method="INVITE", now=time.time())
    assert (creds.username, verdict) == ("acme", "ok")
    answer = peer.offer()
    peer.sock.sendto(
        _reply(second, 200, "OK", ("Contact", f"<sip:callee@127.0.0.1:{peer.port}>"),
               ("Content-Type", "application/sdp"), tag="callee1", body=answer),
        _source(second),
    )  # fmt: skip
    ack = _next_request(peer, "ACK")
    assert ack.to.tag == "callee1"
    assert peer.rtp_count(1.0) > 30  # the agent's audio flows to the callee
    tag = second.from_.tag
    peer.request("BYE", number, call_id=second.call_id, cseq=1, branch=_ids()[1], to_tag=tag)


def _next_request(peer: SipClient, method: str) -> Any:
    for _ in range(20):
        message = peer.receive(10.0)
        assert message is not None, f"no {method}"
        if getattr(message, "method", None) == method:
            return message
    raise AssertionError(f"no {method}")


def _source(request: Any) -> tuple[str, int]:
    via = request.vias[0]
    return via.host, via.port or 5060


def _reply(
    request: Any, status: int, reason: str, *headers: tuple[str, str], tag: str = "x1",
    body: bytes = b"",
) -> bytes:  # fmt: skip
    head = f"SIP/2.0 {status} {reason}\r\n"
    for name in ("Via", "From", "To", "Call-ID", "CSeq"):
        for value in request.headers.get_all(name):
            head += f"{name}: {value}{';tag=' + tag if name == 'To' else ''}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers)
    return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def test_draining_refuses_new_invites_and_lets_the_call_in_progress_finish(
    tmp_path: Path,
) -> None:
    with run_server(tmp_path / "data") as server:
        server.setup_tenant(AGENT, OPEN, {"name": "loopback", "inbound_addresses": LOOPBACK})
        peer, late = SipClient(server.sip_port), SipClient(server.sip_port)
        try:
            call_id, tag, cseq = _establish(peer, OPEN)
            server.process.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            other, branch = _ids()
            late.request("INVITE", OPEN, call_id=other, cseq=1, branch=branch, body=late.offer())
            assert late.final().status == 503
            assert peer.rtp_count(1.0) > 30  # the call in progress goes on
            _bye(peer, OPEN, call_id, tag, cseq)
            # uvicorn re-raises the SIGTERM it captured once it has shut down: -15
            assert server.process.wait(timeout=30) in (0, -signal.SIGTERM)
        finally:
            peer.close()
            late.close()
    log = server.log.read_text()
    ended = log.index('"msg": "call ended"')
    assert '"end_reason": "caller_hangup"' in log[ended:]
    assert ended < log.index('"msg": "Shutting down"')  # the call finished, then the server


def test_a_worker_at_its_capacity_answers_503_with_retry_after_and_records_it(
    tmp_path: Path,
) -> None:
    with run_server(tmp_path / "data", extra_env={"VOXPLANE_MAX_CALLS": "1"}) as server:
        server.setup_tenant(AGENT, OPEN, {"name": "loopback", "inbound_addresses": LOOPBACK})
        peer, extra = SipClient(server.sip_port), SipClient(server.sip_port)
        try:
            call_id, tag, cseq = _establish(peer, OPEN)
            other, branch = _ids()
            extra.request("INVITE", OPEN, call_id=other, cseq=1, branch=branch, body=extra.offer())
            refusal = extra.final()
            assert refusal.status == 503 and refusal.headers.get("Retry-After") == "5"
            assert peer.rtp_count(1.0) > 30  # the call in progress goes on
            _bye(peer, OPEN, call_id, tag, cseq)
        finally:
            peer.close()
            extra.close()
        records = {r["transport_call_id"]: r for r in server.calls(expected=2)}
        assert records[other]["end_reason"] == "over_capacity"
        assert records[other]["answered_at"] is None
        assert records[call_id]["end_reason"] == "caller_hangup"


def test_only_the_public_address_goes_out(tmp_path: Path) -> None:
    """Topology hiding: with a public address set, voxplane's Via, Contact and SDP name it
    and nothing else of the host; what a response copies from the request is the caller's."""
    public = "203.0.113.9"
    env = {"VOXPLANE_SIP_PUBLIC_ADDRESS": public}
    with run_server(tmp_path / "data", extra_env=env) as server:
        server.setup_tenant(AGENT, OPEN, {"name": "loopback", "inbound_addresses": LOOPBACK})
        peer = SipClient(server.sip_port)
        try:
            call_id, branch = _ids()
            invite = peer.request(
                "INVITE", OPEN, call_id=call_id, cseq=1, branch=branch, body=peer.offer()
            )
            answer = peer.final()
            assert answer.status == 200
            contact = answer.headers.get("Contact")
            assert contact.startswith(f"<sip:voxplane@{public}:")
            sdp = parse_sdp(answer.body)
            assert sdp.origin.address == public and sdp.connection.address == public
            # Whatever else the response holds came from our request.
            ours = {line for line in invite.decode().split("\r\n") if line}
            extra = [
                line
                for line in answer.encode().decode().split("\r\n\r\n")[0].split("\r\n")[1:]
                if line not in ours and not line.startswith(("Via:", "To:", "Content-"))
            ]
            assert all("127.0.0.1" not in line for line in extra), extra
            tag = answer.to.tag
            peer.request("ACK", OPEN, call_id=call_id, cseq=1, branch=_ids()[1], to_tag=tag)
            _bye(peer, OPEN, call_id, tag, 2)
        finally:
            peer.close()


def test_retransmitted_requests_are_absorbed_by_their_transactions(peer: SipClient) -> None:
    """A retransmitted INVITE does not start a second call; a retransmitted BYE gets the
    same 200 (not 481); a refusal is resent until its ACK (Timer G), then no more."""
    call_id, branch = _ids()
    offer = peer.offer()
    invite = peer.request("INVITE", OPEN, call_id=call_id, cseq=1, branch=branch, body=offer)
    peer.send(invite)  # the same INVITE again, as a UDP retransmission
    answer = peer.final()
    assert answer.status == 200
    tag = answer.to.tag
    peer.request("ACK", OPEN, call_id=call_id, cseq=1, branch=_ids()[1], to_tag=tag)
    time.sleep(0.3)
    while (late := peer.receive(0.2)) is not None:  # 100s and 200s that crossed the ACK
        assert getattr(late, "to", None) is None or late.to.tag in (None, tag)
    bye = peer.request("BYE", OPEN, call_id=call_id, cseq=2, branch=_ids()[1], to_tag=tag)
    assert peer.final().status == 200
    peer.send(bye)
    again = peer.final()
    assert (again.status, again.cseq.method) == (200, "BYE")

    unknown, branch = _ids()
    peer.request("INVITE", "+15559998", call_id=unknown, cseq=1, branch=branch, body=offer)
    refusals = [m for m in iter(lambda: peer.receive(1.8), None) if getattr(m, "status", 0) == 404]
    assert len(refusals) >= 2  # T1 = 0.5 s, then 1 s
    peer.request(
        "ACK", "+15559998", call_id=unknown, cseq=1, branch=branch, to_tag=refusals[0].to.tag
    )
    time.sleep(0.3)
    while peer.receive(0.1) is not None:
        pass
    assert peer.receive(2.5) is None  # acknowledged: no more 404s
