"""A Twilio-protocol client: it plays Twilio's part against ``voxplane serve`` (tests and
``bench/telephony.py``).

It signs the voice webhook as Twilio does, follows the TwiML to the stream URL, sends
``connected`` and ``start`` (with the TwiML's parameters), streams the caller's audio in
real time as 20 ms μ-law ``media`` messages, plays the agent's audio in real time and
echoes each ``mark`` once the audio sent before it has played, and honours ``clear`` (drops
what is queued, returns the pending marks at once), as Twilio documents.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Self

import httpx
import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from voxplane.media.frame import Pcm16
from voxplane.media.g711 import ulaw_decode, ulaw_encode
from voxplane.transports.twilio import signature

FRAME = 160
SILENCE = ulaw_encode(np.zeros(FRAME, np.int16))


@dataclass
class Twiml:
    stream_url: str
    parameters: dict[str, str]
    action: str | None
    redirect: str | None = None
    """TeXML: where the ``<Redirect>`` after the stream goes once it stops."""


def parse_twiml(document: str) -> Twiml:
    root = ET.fromstring(document)
    connect_ = root.find("Connect")
    assert connect_ is not None, document
    stream = connect_.find("Stream")
    assert stream is not None, document
    params = {p.attrib["name"]: p.attrib["value"] for p in stream.findall("Parameter")}
    redirect = root.find("Redirect")
    after = None if redirect is None else redirect.text
    return Twiml(stream.attrib["url"], params, connect_.attrib.get("action"), after)


def signed_post(
    base_url: str, path: str, auth_token: str, form: dict[str, str], *, public_url: str
) -> httpx.Response:
    """POST ``form`` to ``path`` signed as Twilio signs it (for the URL it was told)."""
    sig = signature.compute(auth_token, public_url + path, form.items())
    headers = {"X-Twilio-Signature": sig}
    return httpx.post(base_url + path, data=form, headers=headers, timeout=120)


def call_form(to: str, caller: str = "+14155550123") -> dict[str, str]:
    return {
        "AccountSid": "AC" + secrets.token_hex(16),
        "CallSid": "CA" + secrets.token_hex(16),
        "From": caller,
        "To": to,
        "CallStatus": "ringing",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
    }


@dataclass
class Heard:
    """What the client received and played."""

    frames_played: int = 0
    agent_frames: list[tuple[float, Pcm16]] = field(default_factory=list)
    """(loop time played, samples) of every agent frame that reached the caller's ear."""
    clears: list[float] = field(default_factory=list)
    marks_echoed: int = 0
    close_code: int | None = None
    close_reason: str | None = None

    def last_agent_audio(self) -> float | None:
        return self.agent_frames[-1][0] if self.agent_frames else None


class TwilioStream:
    """One media stream as Twilio runs it."""

    def __init__(self, ws: ClientConnection, call_sid: str, stream_sid: str) -> None:
        self.ws = ws
        self.call_sid = call_sid
        self.stream_sid = stream_sid
        self.heard = Heard()
        self._queue: list[bytes | str] = []  # agent audio (bytes) and marks (str), in order
        self._sequence = 0
        self._chunk = 0
        self._t0 = 0.0
        self.closed = asyncio.Event()

    @classmethod
    async def open(cls, twiml: Twiml, call_sid: str, **start: Any) -> Self:
        ws = await connect(twiml.stream_url, max_size=2**20)
        stream = cls(ws, call_sid, "MZ" + secrets.token_hex(16))
        await stream.send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        await stream.send(stream._start_message(twiml.parameters, start))
        return stream

    def _next(self) -> str:
        self._sequence += 1
        return str(self._sequence)

    # --- the dialect: what each message looks like (Telnyx's client overrides these) ------

    def _start_message(self, parameters: dict[str, str], extra: dict[str, Any]) -> dict[str, Any]:
        return {
            "event": "start",
            "sequenceNumber": self._next(),
            "start": {
                "accountSid": "AC" + "0" * 32,
                "streamSid": self.stream_sid,
                "callSid": self.call_sid,
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                "customParameters": parameters,
                **extra,
            },
            "streamSid": self.stream_sid,
        }

    def _media_message(self, payload: str) -> dict[str, Any]:
        return {
            "event": "media",
            "sequenceNumber": self._next(),
            "media": {
                "track": "inbound",
                "chunk": str(self._chunk),
                "timestamp": str(20 * self._chunk),
                "payload": payload,
            },
            "streamSid": self.stream_sid,
        }

    def _dtmf_message(self, digit: str) -> dict[str, Any]:
        return {"event": "dtmf", "streamSid": self.stream_sid, "sequenceNumber": self._next(),
                "dtmf": {"track": "inbound_track", "digit": digit}}  # fmt: skip

    def _mark_message(self, name: str) -> dict[str, Any]:
        return {"event": "mark", "sequenceNumber": self._next(), "streamSid": self.stream_sid,
                "mark": {"name": name}}  # fmt: skip

    def _stop_message(self) -> dict[str, Any]:
        return {"event": "stop", "sequenceNumber": self._next(), "streamSid": self.stream_sid,
                "stop": {"accountSid": "AC" + "0" * 32, "callSid": self.call_sid}}  # fmt: skip

    async def send(self, message: dict[str, Any]) -> None:
        try:
            await self.ws.send(json.dumps(message))
        except ConnectionClosed:
            self.closed.set()

    async def run(self, caller: Callable[[Self], Coroutine[Any, Any, None]]) -> Heard:
        """Stream the caller's side (``caller`` decides what to say, when) until the server
        closes the stream or the caller ends it."""
        self._t0 = asyncio.get_running_loop().time()
        async with asyncio.TaskGroup() as group:
            group.create_task(self._receive())
            player = group.create_task(self._play())
            speaker = group.create_task(caller(self))
            await self.closed.wait()
            player.cancel()
            speaker.cancel()
        return self.heard

    async def say(self, samples: Pcm16) -> None:
        """Stream ``samples`` (8 kHz) in real time, then keep streaming silence."""
        for start in range(0, len(samples), FRAME):
            frame = np.zeros(FRAME, np.int16)
            chunk = samples[start : start + FRAME]
            frame[: len(chunk)] = chunk
            await self._send_media(ulaw_encode(frame))

    async def silence(self, seconds: float) -> None:
        for _ in range(round(seconds / 0.02)):
            await self._send_media(SILENCE)

    async def press(self, digit: str) -> None:
        await self.send(self._dtmf_message(digit))

    async def stop(self) -> None:
        await self.send(self._stop_message())
        await self.ws.close()
        self.closed.set()

    async def _send_media(self, payload: bytes) -> None:
        if self.closed.is_set():
            raise asyncio.CancelledError
        self._chunk += 1
        loop = asyncio.get_running_loop()
        due = self._t0 + 0.02 * self._chunk
        if due > loop.time():
            await asyncio.sleep(due - loop.time())
        await self.send(self._media_message(base64.b64encode(payload).decode()))

    async def _receive(self) -> None:
        try:
            async for text in self.ws:
                message = json.loads(text)
                match message["event"]:
                    case "media":
                        self._queue.append(base64.b64decode(message["media"]["payload"]))
                    case "mark":
                        self._queue.append(message["mark"]["name"])
                    case "clear":
                        self.heard.clears.append(asyncio.get_running_loop().time())
                        marks = [item for item in self._queue if isinstance(item, str)]
                        self._queue.clear()
                        for name in marks:  # Twilio returns the marks of cleared audio
                            await self._echo(name)
        except ConnectionClosed:
            pass
        finally:
            if self.ws.close_code is not None:
                self.heard.close_code = self.ws.close_code
                self.heard.close_reason = self.ws.close_reason
            self.closed.set()

    async def _play(self) -> None:
        """Twilio's playout: 20 ms of queued agent audio per 20 ms; marks when reached."""
        loop = asyncio.get_running_loop()
        tick = loop.time()
        while True:
            while self._queue and isinstance(self._queue[0], str):
                await self._echo(str(self._queue.pop(0)))
            if self._queue:
                payload = self._queue.pop(0)
                assert isinstance(payload, bytes)
                self.heard.frames_played += 1
                self.heard.agent_frames.append((loop.time(), ulaw_decode(payload)))
            tick += 0.02
            await asyncio.sleep(max(0.0, tick - loop.time()))

    async def _echo(self, name: str) -> None:
        self.heard.marks_echoed += 1
        await self.send(self._mark_message(name))
