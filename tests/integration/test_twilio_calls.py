"""Twilio Media Streams end to end: a Twilio-protocol client against a real ``voxplane serve``
(uvicorn on loopback, PostgreSQL and Redis). The agent runs on scripted providers (a
benchmarking aid: fixed transcripts, fixed reply, pre-synthesized audio) so the protocol,
the pacing, barge-in and the records are checked deterministically."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from conftest import ADMIN_TOKEN, PASSWORD
from voxplane.media.frame import Pcm16
from voxplane.media.resample import resample
from voxplane.media.wav import decode_wav
from voxplane.observability.pii import mask_number
from voxplane.providers.flow.slots import extract_digits
from voxplane.providers.whisper import WhisperSTT
from voxplane.runtime.factory import LocalModels
from voxplane.testing.fakes import tone
from voxplane.testing.twilio import (
    Heard,
    TwilioStream,
    call_form,
    parse_twiml,
    signed_post,
)

VOXPLANE = [sys.executable, "-m", "voxplane.cli.main"]
AUTH_TOKEN = "twilio-auth-token-" + "y" * 14
REPLY = (
    "Certainly we have openings on Monday and Tuesday morning and on Thursday afternoon "
    "and the hygienist will see you for about forty five minutes in total"
)  # one sentence of 25 words: 2 s of scripted audio at 80 ms a word
AGENT: dict[str, Any] = {
    "name": "twilio-scripted",
    "stt": {"provider": "scripted", "transcripts": ["I need a cleaning.", "Tuesday please."]},
    "tts": {"provider": "scripted", "ms_per_word": 80},
    "turn": {"vad": "energy", "barge_in": {"min_speech_ms": 300}},
    "brain": {"type": "scripted", "greeting": "Hello there.", "reply": REPLY, "hang_up_after": 2},
}


@dataclass(frozen=True)
class Server:
    url: str
    process: subprocess.Popen[str]


@contextmanager
def serving(pg_url: str, data_dir: Path, **env: str) -> Iterator[Server]:
    """``voxplane serve`` on PostgreSQL and Redis, with ``VOXPLANE_*`` overrides ``env``."""
    with socket_port() as port:
        pass
    environment = {
        **os.environ,
        "VOXPLANE_DATABASE_URL": pg_url,
        "VOXPLANE_RUN_MIGRATIONS": "true",
        "VOXPLANE_REDIS_URL": "redis://127.0.0.1:6379/0",
        "VOXPLANE_ADMIN_TOKEN": ADMIN_TOKEN,
        "VOXPLANE_DATA_DIR": str(data_dir),
        "VOXPLANE_SHUTDOWN_GRACE_S": "5",
        **env,
    }
    process = subprocess.Popen(
        [*VOXPLANE, "serve", "--port", str(port), "--sip-port", "0"],
        env=environment,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
        yield Server(url, process)
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)


@pytest.fixture(scope="module")
def server(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving(pg_url, tmp_path_factory.mktemp("serve")) as running:
        yield running


class socket_port:
    def __enter__(self) -> int:
        import socket

        self.probe = socket.socket()
        self.probe.bind(("127.0.0.1", 0))
        port: int = self.probe.getsockname()[1]
        return port

    def __exit__(self, *exc: object) -> None:
        self.probe.close()


def wait_ready(url: str, process: subprocess.Popen[str]) -> None:
    for _ in range(300):
        assert process.poll() is None, process.communicate()[1]
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        asyncio.run(asyncio.sleep(0.1))
    raise AssertionError("voxplane serve did not become ready")


@dataclass(frozen=True)
class Line:
    """A tenant with a Twilio account, an agent and the number that routes to it."""

    tenant_id: str
    number: str
    headers: dict[str, str]


def new_line(server: Server, agent: dict[str, Any] = AGENT, **limits: Any) -> Line:
    name = f"t-{secrets.token_hex(4)}"
    made = httpx.post(
        f"{server.url}/v1/tenants",
        json={"name": name, "email": f"o@{name}.test", "password": PASSWORD, "limits": limits},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert made.status_code == 201, made.text
    headers = {"Authorization": f"Bearer {made.json()['api_key']}"}
    created = httpx.post(f"{server.url}/v1/agents", json=agent, headers=headers)
    assert created.status_code == 201, created.text
    number = f"+1555{secrets.randbelow(10**7):07d}"
    body = {"number": number, "agent_id": created.json()["id"]}
    assert httpx.post(f"{server.url}/v1/phone-numbers", json=body, headers=headers).is_success
    secret = {"name": "twilio", "provider": "twilio", "secret": AUTH_TOKEN}
    assert httpx.post(f"{server.url}/v1/credentials", json=secret, headers=headers).is_success
    return Line(made.json()["tenant_id"], number, headers)


def webhook(server: Server, form: dict[str, str], token: str = AUTH_TOKEN) -> httpx.Response:
    return signed_post(server.url, "/v1/twilio/voice", token, form, public_url=server.url)


def recorded_call(server: Server, line: Line) -> dict[str, Any]:
    for _ in range(100):
        items = httpx.get(f"{server.url}/v1/calls", headers=line.headers).json()["items"]
        if items:
            call: dict[str, Any] = httpx.get(
                f"{server.url}/v1/calls/{items[0]['id']}", headers=line.headers
            ).json()
            return call
        asyncio.run(asyncio.sleep(0.1))
    raise AssertionError("the call was not recorded")


async def silence_until(stream: TwilioStream, done: Callable[[], bool], limit_s: float) -> None:
    for _ in range(round(limit_s / 0.02)):
        if done():
            return
        await stream.silence(0.02)
    raise AssertionError("the agent did not do what the caller waited for")


def quiet_for(heard: Heard, seconds: float) -> Callable[[], bool]:
    def check() -> bool:
        last = heard.last_agent_audio()
        return last is not None and asyncio.get_running_loop().time() - last >= seconds

    return check


async def answered(stream: TwilioStream) -> None:
    """Stream silence until the agent has answered and gone quiet again."""
    before = len(stream.heard.agent_frames)
    await silence_until(stream, lambda: len(stream.heard.agent_frames) > before, 10)
    await silence_until(stream, quiet_for(stream.heard, 0.6), 10)


Caller = Callable[[TwilioStream], Coroutine[Any, Any, None]]


def run_call(server: Server, line: Line, caller: Caller) -> tuple[str, Heard]:
    form = call_form(line.number)
    answer = webhook(server, form)
    assert answer.status_code == 200, answer.text
    twiml = parse_twiml(answer.text)

    async def main() -> Heard:
        stream = await TwilioStream.open(twiml, form["CallSid"])
        async with asyncio.timeout(60):
            return await stream.run(caller)

    return form["CallSid"], asyncio.run(main())


def test_a_conversation_with_barge_in_over_twilio_media_streams(server: Server) -> None:
    line = new_line(server)
    form = call_form(line.number)
    answer = webhook(server, form)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/xml")
    twiml = parse_twiml(answer.text)
    assert twiml.stream_url == server.url.replace("http://", "ws://") + "/v1/twilio/stream"
    assert twiml.action == server.url + "/v1/twilio/voice/ended"
    assert len(twiml.parameters["token"]) >= 32
    marks: dict[str, int] = {}

    async def caller(stream: TwilioStream) -> None:
        heard = stream.heard
        await silence_until(stream, quiet_for(heard, 0.6), 10)  # the greeting has played
        await stream.say(tone(800, 8000))
        marks["before_reply"] = len(heard.agent_frames)
        started = marks["before_reply"] + 40
        await silence_until(stream, lambda: len(heard.agent_frames) > started, 10)
        await stream.say(tone(900, 8000, hz=500.0))  # talks over the answer, 0.8 s into it
        await stream.silence(30)

    async def main() -> Heard:
        stream = await TwilioStream.open(twiml, form["CallSid"])
        async with asyncio.timeout(60):
            return await stream.run(caller)

    heard = asyncio.run(main())
    assert heard.clears, "no clear after the barge-in"
    assert (heard.close_code, heard.close_reason) == (1000, "call ended by the agent")
    # what the caller heard of the first answer, by Twilio's own playout
    answer_frames = heard.agent_frames[marks["before_reply"] :]
    first_answer = [t for t, _ in answer_frames if t <= heard.clears[0]]
    heard_words = 20 * len(first_answer) / 80

    call = recorded_call(server, line)
    assert (call["transport"], call["transport_call_id"]) == ("twilio", form["CallSid"])
    masked = mask_number(line.number)  # the tenant's default PII policy: redact
    assert (call["to_number"], call["end_reason"]) == (masked, "agent_hangup")
    assert call["started_at"] <= call["answered_at"] <= call["ended_at"]
    turns = [(t["role"], t["text"], t["interrupted"]) for t in call["turns"]]
    assert turns[0] == ("agent", "Hello there.", False)
    assert turns[1] == ("user", "I need a cleaning.", False)
    role, cut, interrupted = turns[2]
    assert role == "agent" and interrupted and REPLY.startswith(cut) and cut != REPLY
    # the transcript keeps what the marks confirmed: never more, at most a mark (100 ms) less
    assert heard_words - 2.5 <= len(cut.split()) <= heard_words + 0.5
    assert turns[3:] == [("user", "Tuesday please.", False), ("agent", REPLY, False)]
    assert [m["turn"] for m in call["metrics"]] == [1, 2]


def test_keys_and_a_caller_hang_up(server: Server) -> None:
    keypad = {**AGENT, "brain": {"type": "scripted", "greeting": "Hi.", "reply": "Okay."}}
    line = new_line(server, keypad)

    async def caller(stream: TwilioStream) -> None:
        await silence_until(stream, quiet_for(stream.heard, 0.4), 10)
        await stream.press("5")  # a scripted brain takes no keys: the agent keeps quiet
        await stream.silence(0.5)
        await stream.stop()

    call_sid, _ = run_call(server, line, caller)
    call = recorded_call(server, line)
    assert call["end_reason"] == "caller_hangup" and call["transport_call_id"] == call_sid
    assert [t["text"] for t in call["turns"]] == ["Hi."]


def test_a_stream_gone_silent_ends_its_call_which_is_recorded(pg_url: str, tmp_path: Path) -> None:
    """The carrier's side goes quiet without closing (a partition, a crashed carrier): no
    media for ``VOXPLANE_STREAM_SILENCE_TIMEOUT_S`` and the call ends, its slot freed and
    its record written, instead of waiting on the socket until the kernel gives up."""
    env = {"VOXPLANE_STREAM_SILENCE_TIMEOUT_S": "1", "VOXPLANE_DRAIN_DELAY_S": "0"}
    with serving(pg_url, tmp_path, **env) as silent:
        line = new_line(silent)

        async def caller(stream: TwilioStream) -> None:
            await silence_until(stream, quiet_for(stream.heard, 0.4), 10)  # the greeting
            # and from here on the carrier sends nothing; its socket stays open

        _, heard = run_call(silent, line, caller)
        assert (heard.close_code, heard.close_reason) == (1011, "nothing from the carrier for 1 s")
        call = recorded_call(silent, line)
        assert call["end_reason"] == "caller_hangup" and call["ended_at"] is not None
        assert [t["text"] for t in call["turns"]] == ["Hello there."]


def test_the_webhook_refuses_bad_signatures_and_unknown_numbers(server: Server) -> None:
    line = new_line(server)
    form = call_form(line.number)
    assert webhook(server, form, token="not-the-token").status_code == 403
    unsigned = httpx.post(f"{server.url}/v1/twilio/voice", data=form)
    assert unsigned.status_code == 403
    tampered = signed_post(server.url, "/v1/twilio/voice", AUTH_TOKEN, form, public_url=server.url)
    assert tampered.status_code == 200  # the honest one passes...
    forged = httpx.post(
        f"{server.url}/v1/twilio/voice",
        data={**form, "From": "+19995550000"},
        headers={"X-Twilio-Signature": tampered.request.headers["X-Twilio-Signature"]},
    )
    assert forged.status_code == 403  # ...and a changed parameter does not
    unknown = webhook(server, call_form("+15550009999"))
    assert unknown.status_code == 200 and "<Reject" in unknown.text


def test_over_the_call_limit_the_webhook_answers_busy(server: Server) -> None:
    line = new_line(server, max_concurrent_calls=1)
    first = webhook(server, call_form(line.number))
    assert "<Connect" in first.text  # holds the tenant's only slot until its stream starts
    busy = webhook(server, call_form(line.number))
    assert busy.status_code == 200 and '<Reject reason="busy"/>' in busy.text


async def _refused(server: Server, messages: list[str]) -> tuple[int | None, str | None]:
    async with connect(server.url.replace("http", "ws") + "/v1/twilio/stream") as ws:
        try:
            for message in messages:
                await ws.send(message)
            async with asyncio.timeout(10):
                async for _ in ws:
                    pass
        except ConnectionClosed:
            pass
        return ws.close_code, ws.close_reason


def _start(call_sid: str, token: str) -> str:
    import json

    return json.dumps(
        {"event": "start", "streamSid": "MZ1", "start": {
            "streamSid": "MZ1", "callSid": call_sid, "accountSid": "AC1", "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": {"token": token}}}
    )  # fmt: skip


def test_bad_stream_input_is_closed_with_a_reason_and_the_server_lives(server: Server) -> None:
    line = new_line(server)
    connected = '{"event": "connected", "protocol": "Call", "version": "1.0.0"}'
    media = '{"event": "media", "media": {"payload": "AAAA"}, "streamSid": "MZ1"}'
    form = call_form(line.number)
    token = parse_twiml(webhook(server, form).text).parameters["token"]
    cases = [
        (["{not json"], "message is not JSON"),
        ([connected, '{"event": "dance"}'], "unknown event 'dance'"),
        ([connected, media], "media before start"),
        (["x" * 100_000], "message over 65536 characters"),
        ([_start("CA-unknown", "forged-token")], "invalid, expired or used stream token"),
        ([_start("CA-other-call", token)], "invalid, expired or used stream token"),
        ([_start(form["CallSid"], token)], "invalid, expired or used stream token"),  # used
    ]
    for messages, reason in cases:
        code, said = asyncio.run(_refused(server, messages))
        assert (code, said) == (1008, reason), messages[0][:40]
    # a token given to another call is spent, and its call's slot was freed
    assert httpx.get(f"{server.url}/readyz").status_code == 200
    assert server.process.poll() is None


def test_mid_call_garbage_ends_the_call_cleanly_and_it_is_recorded(server: Server) -> None:
    line = new_line(server)

    async def caller(stream: TwilioStream) -> None:
        await silence_until(stream, quiet_for(stream.heard, 0.3), 10)
        await stream.ws.send("garbage")
        await stream.silence(10)

    _, heard = run_call(server, line, caller)
    assert (heard.close_code, heard.close_reason) == (1008, "message is not JSON")
    assert recorded_call(server, line)["end_reason"] == "caller_hangup"


def test_sigterm_drains_a_call_in_progress(tmp_path: Path, pg_url: str) -> None:
    """A call in progress at SIGTERM finishes (the agent hangs up) and is recorded before
    the process exits; the webhook refuses new calls meanwhile (503: Twilio's fallback)."""
    with socket_port() as port:
        pass
    env = {**os.environ, "VOXPLANE_DATABASE_URL": pg_url, "VOXPLANE_RUN_MIGRATIONS": "true",
           "VOXPLANE_ADMIN_TOKEN": ADMIN_TOKEN, "VOXPLANE_DATA_DIR": str(tmp_path)}  # fmt: skip
    process = subprocess.Popen(
        [*VOXPLANE, "serve", "--port", str(port), "--sip-port", "0"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    server = Server(f"http://127.0.0.1:{port}", process)
    try:
        wait_ready(server.url, process)
        line = new_line(server)
        refused: list[int] = []

        async def caller(stream: TwilioStream) -> None:
            await silence_until(stream, quiet_for(stream.heard, 0.5), 10)
            process.send_signal(signal.SIGTERM)
            await stream.silence(0.3)
            response = await asyncio.to_thread(webhook, server, call_form(line.number))
            refused.append(response.status_code)
            for _ in range(2):
                await stream.say(tone(800, 8000))
                await answered(stream)
            await stream.silence(10)

        _, heard = run_call(server, line, caller)
        assert refused == [503]
        assert (heard.close_code, heard.close_reason) == (1000, "call ended by the agent")
        _, stderr = process.communicate(timeout=30)
        assert process.returncode in (0, -signal.SIGTERM), stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    # the record was written before the process exited: read it back from the database
    import asyncpg

    async def stored() -> list[Any]:
        connection = await asyncpg.connect(pg_url.replace("+asyncpg", ""))
        try:
            return await connection.fetch(
                "SELECT end_reason FROM calls WHERE tenant_id = $1", line.tenant_id
            )
        finally:
            await connection.close()

    assert [row["end_reason"] for row in asyncio.run(stored())] == ["agent_hangup"]


TRANSFERRING: dict[str, Any] = {
    **AGENT,
    "stt": {"provider": "scripted", "transcripts": ["I want a human please."]},
    "brain": {
        "type": "flow",
        "start": "hello",
        "intents": {"human": {"phrases": ["a human", "a person"]}},
        "nodes": {
            "hello": {"say": "Hello.", "transitions": [{"intent": "human", "to": "human"}]},
            "human": {"say": "Connecting you.", "action": {"type": "transfer", "to": "+15550100"}},
        },
    },
}


def assert_transferred(server: Server, line: Line) -> None:
    """The call of ``line``'s TRANSFERRING agent was recorded as transferred, whole."""
    call = recorded_call(server, line)
    assert call["end_reason"] == "transfer"
    assert [t["text"] for t in call["turns"]] == [
        "Hello.",
        "I want a human please.",
        "Connecting you.",
    ]


def test_a_transfer_is_dialled_by_twilio_when_the_stream_ends(server: Server) -> None:
    line = new_line(server, TRANSFERRING)

    async def caller(stream: TwilioStream) -> None:
        await silence_until(stream, quiet_for(stream.heard, 0.4), 10)
        await stream.say(tone(800, 8000))
        await stream.silence(20)

    call_sid, heard = run_call(server, line, caller)
    assert (heard.close_code, heard.close_reason) == (1000, "call transferred")
    form = {**call_form(line.number), "CallSid": call_sid, "CallStatus": "in-progress"}
    ended = "/v1/twilio/voice/ended"
    other = new_line(server)  # another tenant, signing for its own number, cannot collect it
    foreign = {**form, "To": other.number}
    stolen = signed_post(server.url, ended, AUTH_TOKEN, foreign, public_url=server.url)
    assert stolen.status_code == 200 and "<Hangup/>" in stolen.text
    after = signed_post(server.url, ended, AUTH_TOKEN, form, public_url=server.url)
    assert after.status_code == 200 and "<Dial>+15550100</Dial>" in after.text
    again = signed_post(server.url, ended, AUTH_TOKEN, form, public_url=server.url)
    assert "<Hangup/>" in again.text  # the transfer is dialled once
    assert_transferred(server, line)


FSDD = Path(__file__).resolve().parents[2].parent / "shared" / "audio" / "fsdd"
LOCAL_AGENT: dict[str, Any] = {
    "name": "patient-number",
    "turn": {"vad": "silero"},
    "brain": {
        "type": "flow",
        "start": "ask",
        "nodes": {
            "ask": {
                "gather": {"slot": "number", "type": "digits", "min_length": 4, "max_length": 4,
                           "prompt": "Please say your four digit patient number."},
                "next": "done",
            },
            "done": {"say": "Thank you, I have your number. Goodbye.",
                     "action": {"type": "hangup"}},
        },
    },
}  # fmt: skip


def spoken_digits(digits: str) -> Pcm16:
    """Real human speech (FSDD, 8 kHz) of ``digits``, with short pauses between them."""
    if not FSDD.is_dir():
        pytest.fail(f"{FSDD} is missing: this test needs ../shared/audio/fsdd")
    parts = []
    for i, digit in enumerate(digits):
        samples, _ = decode_wav((FSDD / f"{digit}_jackson_{i % 5}.wav").read_bytes())
        parts += [samples, np.zeros(1600, np.int16)]
    return np.concatenate(parts)


@pytest.mark.models
def test_real_models_take_a_spoken_patient_number_over_twilio(server: Server) -> None:
    """Whisper, Silero and Piper in the server; a caller reads four digits (real speech)."""
    line = new_line(server, LOCAL_AGENT)

    async def caller(stream: TwilioStream) -> None:
        await silence_until(stream, quiet_for(stream.heard, 0.8), 60)  # the question played
        await stream.say(spoken_digits("4271"))
        await stream.silence(30)

    _, heard = run_call(server, line, caller)
    assert (heard.close_code, heard.close_reason) == (1000, "call ended by the agent")
    call = recorded_call(server, line)
    turns = [(t["role"], t["text"]) for t in call["turns"]]
    assert turns[0] == ("agent", "Please say your four digit patient number.")
    assert turns[1][0] == "user" and extract_digits(turns[1][1]) == "4271"
    assert turns[2] == ("agent", "Thank you, I have your number. Goodbye.")
    assert call["end_reason"] == "agent_hangup" and call["metrics"][0]["voice_to_voice_ms"] > 0
    # and that is what reached the caller's ear: the last answer, transcribed
    times = [t for t, _ in heard.agent_frames]
    split = max(i for i in range(1, len(times)) if times[i] - times[i - 1] > 0.5)
    goodbye = np.concatenate([s for _, s in heard.agent_frames[split:]])
    stt = WhisperSTT(LocalModels.load().whisper)
    said = asyncio.run(stt.recognize(resample(goodbye, 8000, 16_000))).text.lower()
    assert "thank you" in said and "goodbye" in said, said
