"""A WebRTC caller without a browser (aiortc), for tests and benchmarks: it speaks
scheduled utterances into its microphone track, records what the agent says, and keeps
the data channel's messages.

::

    caller = WebRtcCaller([Utterance(2.0, samples, 8000), Utterance(None, more, 8000)])
    offer = await caller.offer()                 # POST it to /v1/webrtc/calls
    await caller.accept(answer_sdp)
    await caller.wait_ended(timeout_s=30)        # the agent hung up, or the page did
    caller.messages, caller.heard, caller.speech_ended_at
    await caller.aclose()
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCDataChannel,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame as AvFrame
from av.frame import Frame

from voxplane.media.frame import Pcm16
from voxplane.media.resample import resample
from voxplane.transports.webrtc.messages import CHANNEL_LABEL

RATE = 48_000
FRAME = 960


@dataclass(frozen=True, slots=True)
class Utterance:
    """Speech the caller says ``at_s`` seconds after its microphone starts or, with
    ``at_s`` None, once the agent has finished speaking (:data:`AGENT_IDLE_S` of quiet
    after it was heard), like :class:`~voxplane.transports.simulated.SimulatedCaller`."""

    at_s: float | None
    samples: Pcm16
    sample_rate: int


AGENT_IDLE_S = 0.7
LOUD_RMS = 300.0


@dataclass(slots=True)
class HeardFrame:
    at: float
    """Loop time the frame arrived."""
    rms: float


class _Microphone(MediaStreamTrack):
    kind = "audio"

    def __init__(self, script: list[Utterance], caller: WebRtcCaller) -> None:
        super().__init__()
        timed = sorted((u for u in script if u.at_s is not None), key=lambda u: u.at_s or 0.0)
        self._pending = [*timed, *(u for u in script if u.at_s is None)]
        self._caller = caller
        self._playing = np.zeros(0, dtype=np.int16)
        self._position = 0
        self.speech_ended_at: list[float] = []
        self._start: float | None = None
        self._pts = 0

    def _next(self, now: float) -> None:
        if not self._pending:
            return
        utterance = self._pending[0]
        elapsed = now - (self._start or now)
        due = (
            elapsed >= utterance.at_s
            if utterance.at_s is not None
            else self._caller.agent_finished(now)
        )
        if due:
            self._pending.pop(0)
            self._playing = resample(utterance.samples, utterance.sample_rate, RATE)
            self._position = 0
            self._caller.said_at = now

    async def recv(self) -> Frame:
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        else:
            self._pts += FRAME
            await asyncio.sleep(max(0.0, self._start + self._pts / RATE - loop.time()))
        now = loop.time()
        if self._position >= len(self._playing):
            self._next(now)
        samples = np.zeros(FRAME, dtype=np.int16)
        chunk = self._playing[self._position : self._position + FRAME]
        samples[: len(chunk)] = chunk
        if len(chunk):
            self._position += len(chunk)
            if self._position >= len(self._playing):
                self.speech_ended_at.append(now + len(chunk) / RATE)
        frame = AvFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, RATE)
        return frame


@dataclass(slots=True)
class WebRtcCaller:
    """One browser-less caller; see the module docstring."""

    script: list[Utterance]
    keep_audio: bool = False
    """Keep what the agent said (48 kHz mono) in :attr:`audio`, e.g. to transcribe it."""
    audio: list[Pcm16] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    heard: list[HeardFrame] = field(default_factory=list)
    pc: RTCPeerConnection = field(
        default_factory=lambda: RTCPeerConnection(RTCConfiguration(iceServers=[]))
    )
    _ended: asyncio.Event = field(default_factory=asyncio.Event)
    _open: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _mic: _Microphone | None = None
    _channel: RTCDataChannel | None = None
    said_at: float = 0.0
    """When the caller last started an utterance."""
    last_loud: float = 0.0
    """When the agent was last heard."""

    @property
    def speech_ended_at(self) -> list[float]:
        return [] if self._mic is None else list(self._mic.speech_ended_at)

    async def offer(self, *, audio: bool = True) -> str:
        """The SDP offer, ICE candidates included (aiortc gathers before it returns)."""
        if audio:
            self._mic = _Microphone(self.script, self)
            self.pc.addTrack(self._mic)
        channel = self._channel = self.pc.createDataChannel(CHANNEL_LABEL)
        channel.on("message", self._on_message)
        channel.on("open", self._open.set)
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_state)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def accept(self, answer: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))

    async def wait_open(self, timeout_s: float) -> None:
        """Until the data channel is open (DTLS and SCTP come up after the answer)."""
        async with asyncio.timeout(timeout_s):
            await self._open.wait()

    def send(self, message: str) -> None:
        """Send raw text over the data channel (once it is open)."""
        if self._channel is None or self._channel.readyState != "open":
            raise RuntimeError("the data channel is not open")
        self._channel.send(message)

    @property
    def ended(self) -> bool:
        """The call is over: the agent hung up, or the connection closed."""
        return self._ended.is_set()

    async def wait_ended(self, timeout_s: float) -> None:
        async with asyncio.timeout(timeout_s):
            await self._ended.wait()

    def _on_message(self, text: str | bytes) -> None:
        if isinstance(text, str):
            self.messages.append(json.loads(text))
            if self.messages[-1] == {"type": "state", "state": "ended"}:
                self._ended.set()

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._tasks.append(asyncio.ensure_future(self._listen(track)))

    def _on_state(self) -> None:
        if self.pc.connectionState in ("failed", "closed"):
            self._ended.set()

    async def _listen(self, track: MediaStreamTrack) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                self._ended.set()
                return
            assert isinstance(frame, AvFrame)
            pcm = frame.to_ndarray().reshape(-1, len(frame.layout.channels)).mean(axis=1)
            heard = HeardFrame(loop.time(), float(np.sqrt(np.mean(pcm**2))))
            self.heard.append(heard)
            if heard.rms >= LOUD_RMS:
                self.last_loud = heard.at
            if self.keep_audio:
                self.audio.append(resample(pcm.astype(np.int16), frame.sample_rate, RATE))

    def agent_finished(self, now: float) -> bool:
        """The agent spoke since the caller last did, and has been quiet since."""
        return self.last_loud > self.said_at and now - self.last_loud >= AGENT_IDLE_S

    def first_heard_after(self, at: float, rms: float = LOUD_RMS) -> float | None:
        """When the first agent frame louder than ``rms`` arrived after ``at``."""
        return next((f.at for f in self.heard if f.at > at and f.rms >= rms), None)

    async def aclose(self) -> None:
        await self.pc.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
