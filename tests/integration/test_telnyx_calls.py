"""Telnyx media streaming end to end: a Telnyx-protocol client (signed TeXML webhook, then
Telnyx's websocket dialect) against a real ``voxplane serve`` (uvicorn on loopback,
PostgreSQL and Redis). The agent runs on scripted providers, as in test_twilio_calls."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from test_twilio_calls import (
    AGENT,
    REPLY,
    TRANSFERRING,
    Line,
    Server,
    assert_transferred,
    quiet_for,
    recorded_call,
    server,
    silence_until,
)
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from conftest import ADMIN_TOKEN, PASSWORD
from voxplane.testing.fakes import tone
from voxplane.testing.telnyx import TelnyxStream, call_form, signed_post
from voxplane.testing.twilio import Heard, Twiml, parse_twiml
from voxplane.transports.twilio.telnyx_signature import public_key_text

__all__ = ["server"]  # the module-scoped server fixture, shared with the Twilio tests

KEY = Ed25519PrivateKey.generate()


def new_line(server: Server, key: Ed25519PrivateKey = KEY, agent: dict[str, Any] = AGENT) -> Line:
    """A tenant whose Telnyx account's public key is stored, an agent and its number."""
    name = f"t-{secrets.token_hex(4)}"
    made = httpx.post(
        f"{server.url}/v1/tenants",
        json={"name": name, "email": f"o@{name}.test", "password": PASSWORD},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert made.status_code == 201, made.text
    headers = {"Authorization": f"Bearer {made.json()['api_key']}"}
    created = httpx.post(f"{server.url}/v1/agents", json=agent, headers=headers)
    assert created.status_code == 201, created.text
    number = f"+1555{secrets.randbelow(10**7):07d}"
    body = {"number": number, "agent_id": created.json()["id"]}
    assert httpx.post(f"{server.url}/v1/phone-numbers", json=body, headers=headers).is_success
    secret = {"name": "telnyx", "provider": "telnyx", "secret": public_key_text(key)}
    assert httpx.post(f"{server.url}/v1/credentials", json=secret, headers=headers).is_success
    return Line(made.json()["tenant_id"], number, headers)


def run_call(
    texml: Twiml, call_sid: str, caller: Callable[[TelnyxStream], Awaitable[None]]
) -> Heard:
    """Plays Telnyx's side of the stream ``texml`` names, with ``caller`` speaking."""

    async def main() -> Heard:
        stream = await TelnyxStream.open(texml, call_sid)
        async with asyncio.timeout(60):
            return await stream.run(caller)

    return asyncio.run(main())


def webhook(server: Server, form: dict[str, str], **signing: Any) -> httpx.Response:
    return signed_post(server.url, "/v1/telnyx/voice", signing.pop("key", KEY), form, **signing)


def test_a_conversation_with_barge_in_over_telnyx_media_streaming(server: Server) -> None:
    line = new_line(server)
    form = call_form(line.number)
    answer = webhook(server, form)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/xml")
    assert 'bidirectionalMode="rtp"' in answer.text
    texml = parse_twiml(answer.text)
    url = urlsplit(texml.stream_url)
    assert f"{url.scheme}://{url.netloc}{url.path}" == (
        server.url.replace("http://", "ws://") + "/v1/telnyx/stream"
    )
    assert len(parse_qs(url.query)["token"][0]) >= 32
    assert texml.redirect == server.url + "/v1/telnyx/voice/ended"
    marks: dict[str, int] = {}

    async def caller(stream: TelnyxStream) -> None:
        heard = stream.heard
        await silence_until(stream, quiet_for(heard, 0.6), 10)  # the greeting has played
        await stream.say(tone(800, 8000))
        marks["before_reply"] = len(heard.agent_frames)
        started = marks["before_reply"] + 40
        await silence_until(stream, lambda: len(heard.agent_frames) > started, 10)
        await stream.say(tone(900, 8000, hz=500.0))  # talks over the answer
        await stream.silence(30)

    heard = run_call(texml, form["CallSid"], caller)
    assert heard.clears, "no clear after the barge-in"
    assert heard.marks_echoed > 0
    assert (heard.close_code, heard.close_reason) == (1000, "call ended by the agent")
    call = recorded_call(server, line)
    assert (call["transport"], call["transport_call_id"]) == ("telnyx", form["CallSid"])
    assert call["end_reason"] == "agent_hangup"
    turns = [(t["role"], t["text"], t["interrupted"]) for t in call["turns"]]
    assert turns[:2] == [("agent", "Hello there.", False), ("user", "I need a cleaning.", False)]
    role, cut, interrupted = turns[2]
    assert role == "agent" and interrupted and REPLY.startswith(cut) and cut != REPLY
    assert turns[3:] == [("user", "Tuesday please.", False), ("agent", REPLY, False)]


def test_a_transfer_is_dialled_by_telnyx_when_the_stream_ends(server: Server) -> None:
    line = new_line(server, agent=TRANSFERRING)
    form = call_form(line.number)
    texml = parse_twiml(webhook(server, form).text)

    async def caller(stream: TelnyxStream) -> None:
        await silence_until(stream, quiet_for(stream.heard, 0.4), 10)
        await stream.say(tone(800, 8000))
        await stream.silence(20)

    heard = run_call(texml, form["CallSid"], caller)
    assert (heard.close_code, heard.close_reason) == (1000, "call transferred")
    # What TeXML's <Redirect> after the stream asks; signed as every Telnyx request is.
    assert texml.redirect is not None
    ended = urlsplit(texml.redirect).path
    asked = {**form, "CallStatus": "in-progress"}
    other = new_line(server, Ed25519PrivateKey.generate())  # a tenant signing for its number
    stolen = signed_post(server.url, ended, KEY, {**asked, "To": other.number})
    assert stolen.status_code == 403  # KEY is not that tenant's key
    other_key = Ed25519PrivateKey.generate()
    third = new_line(server, other_key)
    foreign = signed_post(server.url, ended, other_key, {**asked, "To": third.number})
    assert foreign.status_code == 200 and "<Hangup/>" in foreign.text  # not its call
    unsigned = httpx.post(server.url + ended, data=asked)
    assert unsigned.status_code == 403
    after = signed_post(server.url, ended, KEY, asked)
    assert after.status_code == 200 and "<Dial>+15550100</Dial>" in after.text
    again = signed_post(server.url, ended, KEY, asked)
    assert "<Hangup/>" in again.text  # the transfer is dialled once
    assert_transferred(server, line)


def test_a_stream_that_ends_without_a_transfer_hangs_up(server: Server) -> None:
    line = new_line(server)
    form = call_form(line.number)
    ended = signed_post(server.url, "/v1/telnyx/voice/ended", KEY, form)
    assert ended.status_code == 200 and "<Hangup/>" in ended.text
    assert "<Dial>" not in ended.text


def test_the_webhook_refuses_what_telnyx_did_not_sign_now(server: Server) -> None:
    line = new_line(server)
    form = call_form(line.number)
    assert webhook(server, form, key=Ed25519PrivateKey.generate()).status_code == 403
    assert webhook(server, form, at=time.time() - 600).status_code == 403  # replayed
    unsigned = httpx.post(f"{server.url}/v1/telnyx/voice", data=form)
    assert unsigned.status_code == 403
    honest = webhook(server, form)
    assert honest.status_code == 200 and "<Connect>" in honest.text
    forged = httpx.post(
        f"{server.url}/v1/telnyx/voice",
        data={**form, "From": "+19995550000"},
        headers={k: v for k, v in honest.request.headers.items() if k.startswith("telnyx-")},
    )
    assert forged.status_code == 403  # the signature is over the exact body
    as_json = httpx.post(f"{server.url}/v1/telnyx/voice", json=form)
    assert as_json.status_code == 415
    unknown = webhook(server, call_form("+15550009998"))
    assert unknown.status_code == 200 and "<Reject" in unknown.text
    # another tenant's key does not open this tenant's number
    other_key = Ed25519PrivateKey.generate()
    new_line(server, other_key)
    assert webhook(server, call_form(line.number), key=other_key).status_code == 403


async def _refused(url: str, messages: list[str]) -> tuple[int | None, str | None]:
    async with connect(url) as ws:
        try:
            for message in messages:
                await ws.send(message)
            async with asyncio.timeout(10):
                async for _ in ws:
                    pass
        except ConnectionClosed:
            pass
        return ws.close_code, ws.close_reason


def test_the_stream_needs_a_live_token(server: Server) -> None:
    line = new_line(server)
    form = call_form(line.number)
    stream_url = parse_twiml(webhook(server, form).text).stream_url
    start = json.dumps({
        "event": "start", "sequence_number": "1", "stream_id": "s1",
        "start": {"call_control_id": form["CallSid"],
                  "media_format": {"encoding": "PCMU", "sample_rate": 8000, "channels": 1}},
    })  # fmt: skip
    base = stream_url.split("?")[0]
    connected = '{"event": "connected", "version": "1.0.0"}'
    for url, reason in [
        (base, "invalid, expired or used stream token"),
        (base + "?token=forged", "invalid, expired or used stream token"),
    ]:
        assert asyncio.run(_refused(url, [connected, start])) == (1008, reason)

    async def hang_up(stream: TelnyxStream) -> None:
        await silence_until(stream, quiet_for(stream.heard, 0.3), 10)
        await stream.stop()

    async def call() -> Heard:
        stream = await TelnyxStream.open(Twiml(stream_url, {}, None), form["CallSid"])
        async with asyncio.timeout(30):
            return await stream.run(hang_up)

    asyncio.run(call())
    assert recorded_call(server, line)["end_reason"] == "caller_hangup"
    used = asyncio.run(_refused(stream_url, [connected, start]))
    assert used == (1008, "invalid, expired or used stream token")  # single use
