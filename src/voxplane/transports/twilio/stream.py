"""One call over a carrier's media-stream websocket, once its ``start`` message has come.

The socket is anything with :class:`MessageSocket`'s three methods (the runtime adapts
Starlette's websocket to it), the wire format a :class:`~voxplane.transports.twilio.
protocol.Dialect`. Reading is driven by the pipeline iterating :meth:`AudioSource.frames`:
media becomes 20 ms frames, keys and ``stop`` become :meth:`MediaStreamTransport.events`,
marks confirm playout.

Playout: every :data:`MARK_EVERY` frames sent (and whenever the pipeline waits for
playout) a mark named ``<epoch>.<frames sent>`` follows the audio; the carrier echoes it
once that audio has played, so :meth:`AudioSink.buffered_ms` is exact to a mark. ``clear``
starts a new epoch: marks the carrier returns for the dropped audio are not counted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Protocol

import numpy as np

from voxplane.errors import CallError
from voxplane.media.frame import AudioFrame, Pcm16
from voxplane.media.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from voxplane.transports.base import (
    CLOCKED_SINK_LEAD_MS,
    AudioSink,
    AudioSource,
    CallEvent,
    CallInfo,
    Dtmf,
    RemoteHangup,
    Transport,
)
from voxplane.transports.twilio.protocol import (
    Dialect,
    DtmfPressed,
    MarkPlayed,
    Media,
    ProtocolError,
    Start,
    Stop,
    StreamError,
)

log = logging.getLogger(__name__)

RATE = 8000
FRAME = 160  # samples in 20 ms at 8 kHz
MARK_EVERY = 5
"""Frames between playout marks: what the caller heard is known to within 100 ms."""

CLOSE_NORMAL = 1000
CLOSE_POLICY = 1008
CLOSE_LOST = 1011

SEND_STALL_S = 10.0
"""A message to the carrier still waiting to be sent after this long: it has stopped
reading, and nothing it is sent will play."""
WATCH_EVERY_S = 1.0


class MessageSocket(Protocol):
    """A text-message connection (a websocket)."""

    async def receive(self) -> str | None:
        """The next text message; None once the peer has gone. Raises
        :class:`ProtocolError` for a frame that is not text."""

    async def send(self, text: str) -> None:
        """Send one message; does nothing once the connection is closed."""

    async def close(self, code: int, reason: str) -> None:
        """Close with ``code`` and ``reason``; idempotent."""


class MediaStreamTransport(Transport):
    """The call a media stream carries, from its ``start`` message on."""

    keys_in_band = True

    def __init__(self, socket: MessageSocket, dialect: Dialect, start: Start, info: CallInfo):
        self.info = info
        self.transferred_to: str | None = None
        self.dialect = dialect
        self.stream_id = start.stream_id
        self._socket = socket
        self._start = start
        self._events: asyncio.Queue[CallEvent | None] = asyncio.Queue(64)
        self.ended = asyncio.Event()
        self.close_reason: str | None = None
        self.sink: _StreamSink = _StreamSink(self)
        self.source = _StreamSource(self)
        self._heard = 0  # messages received
        self._sending = 0  # messages handed to the socket, and those it has taken
        self._sent = 0

    async def events(self) -> AsyncIterator[CallEvent]:
        while (event := await self._events.get()) is not None:
            yield event

    async def hang_up(self) -> None:
        await self._close(CLOSE_NORMAL, "call ended by the agent")

    async def transfer(self, target: str) -> None:
        self.transferred_to = target
        await self._close(CLOSE_NORMAL, "call transferred")

    async def send_dtmf(self, keys: str) -> None:
        raise CallError(f"{self.dialect.name} media streams carry keys only as tones (in band)")

    async def aclose(self) -> None:
        await self._close(CLOSE_NORMAL, "call ended")

    async def watch(
        self,
        *,
        silence_s: float,
        stall_s: float = SEND_STALL_S,
        every_s: float = WATCH_EVERY_S,
    ) -> None:
        """Run alongside the call (its owner cancels it after): ends the call when the
        carrier has sent nothing for ``silence_s`` (it streams the caller's audio every
        20 ms, silences included: a connection gone without closing, as in a network
        partition or a carrier's crash, sends no FIN) or has not taken a message for
        ``stall_s``. Without it such a call would wait on its socket until the kernel
        gave up on the connection, many minutes later, holding its slot unrecorded."""
        loop = asyncio.get_running_loop()
        heard, heard_at = self._heard, loop.time()
        sent, sent_at = self._sent, heard_at
        while not self.ended.is_set():
            await asyncio.sleep(every_s)
            now = loop.time()
            if self._heard != heard:
                heard, heard_at = self._heard, now
            if self._sent != sent or self._sending == self._sent:  # moving, or idle
                sent, sent_at = self._sent, now
            if now - heard_at >= silence_s:
                await self.lost(f"nothing from the carrier for {silence_s:g} s")
            elif now - sent_at >= stall_s:
                await self.lost(f"the carrier took nothing for {stall_s:g} s")

    async def lost(self, why: str) -> None:
        """The carrier's side is gone without closing the stream: the call ends, as at a
        hang-up, and the socket is closed with ``why``."""
        if self.ended.is_set():
            return
        log.warning("media stream lost: ending the call", extra={"reason": why})
        self.event(RemoteHangup("media_timeout"))
        await self._close(CLOSE_LOST, why)

    # --- used by the source and the sink ---------------------------------------------------

    async def send(self, text: str) -> None:
        if not self.ended.is_set():
            self._sending += 1
            try:
                await self._socket.send(text)
            finally:
                self._sent += 1

    async def receive(self) -> str | None:
        """The next message; None once the stream has ended (and why is handled)."""
        try:
            text = await self._socket.receive()
        except ProtocolError as error:
            await self.violated(error)
            return None
        if text is None:
            await self.remote_ended("caller_hangup")
        self._heard += 1
        return text

    def encode(self, samples: Pcm16) -> bytes:
        return ulaw_encode(samples) if self._start.encoding == "pcmu" else alaw_encode(samples)

    def decode(self, payload: bytes) -> Pcm16:
        return ulaw_decode(payload) if self._start.encoding == "pcmu" else alaw_decode(payload)

    def event(self, event: CallEvent) -> None:
        try:
            self._events.put_nowait(event)
        except asyncio.QueueFull:
            log.warning("call event dropped: the pipeline is not reading events")

    async def remote_ended(self, reason: str) -> None:
        """The caller's side is gone (``stop``, a closed socket, a protocol violation)."""
        if not self.ended.is_set():
            self.event(RemoteHangup(reason))
        await self._close(CLOSE_NORMAL, "stream stopped")

    async def violated(self, error: ProtocolError) -> None:
        log.warning("media stream closed: bad message", extra={"reason": error.reason})
        if not self.ended.is_set():
            self.event(RemoteHangup("protocol_error"))
        await self._close(CLOSE_POLICY, error.reason)

    async def _close(self, code: int, reason: str) -> None:
        if self.ended.is_set():
            return
        self.ended.set()
        self.close_reason = reason
        self.sink.wake()
        if not self._events.full():
            self._events.put_nowait(None)
        await self._socket.close(code, reason)


class _StreamSource(AudioSource):
    sample_rate = RATE

    def __init__(self, transport: MediaStreamTransport) -> None:
        self._transport = transport

    async def frames(self) -> AsyncIterator[AudioFrame]:
        transport = self._transport
        dialect = transport.dialect
        pending: Pcm16 = np.zeros(0, np.int16)
        while not transport.ended.is_set():
            text = await transport.receive()
            if text is None:
                return
            try:
                message = dialect.parse(text)
            except ProtocolError as error:
                await transport.violated(error)
                return
            match message:
                case Media(payload=payload):
                    samples = transport.decode(payload)
                    if not len(pending) and len(samples) == FRAME:  # the usual 20 ms message
                        yield AudioFrame(samples, RATE)
                        continue
                    pending = np.concatenate([pending, samples])
                    while len(pending) >= FRAME:
                        yield AudioFrame(pending[:FRAME], RATE)
                        pending = pending[FRAME:]
                case DtmfPressed(digit=digit):
                    transport.event(Dtmf(digit))
                case MarkPlayed(name=name):
                    transport.sink.confirm(name)
                case Stop():
                    await transport.remote_ended("caller_hangup")
                    return
                case StreamError(detail=detail):
                    log.warning("carrier reports a stream error", extra={"detail": detail})
                case _:  # connected/start again: not allowed mid-call
                    await transport.violated(ProtocolError("unexpected message during the call"))
                    return


class _StreamSink(AudioSink):
    sample_rate = RATE
    lead_ms = CLOCKED_SINK_LEAD_MS

    def __init__(self, transport: MediaStreamTransport) -> None:
        self._transport = transport
        self._epoch = 0
        self._sent = 0
        self._marked = 0
        self._played = 0
        self._changed = asyncio.Event()

    async def send(self, frame: AudioFrame) -> None:
        transport = self._transport
        payload = transport.encode(frame.samples)
        await transport.send(transport.dialect.media(transport.stream_id, payload))
        self._sent += 1
        if self._sent - self._marked >= MARK_EVERY:
            await self._mark()

    async def clear(self) -> None:
        transport = self._transport
        await transport.send(transport.dialect.clear(transport.stream_id))
        self._epoch += 1
        self._sent = self._marked = self._played = 0
        self.wake()

    def buffered_ms(self) -> float:
        return 20.0 * (self._sent - self._played)

    async def wait_for_playout(self) -> None:
        if self._marked < self._sent:
            await self._mark()
        while self._played < self._sent and not self._transport.ended.is_set():
            self._changed.clear()
            await self._changed.wait()

    def confirm(self, name: str) -> None:
        """A mark came back: the audio sent before it has played."""
        epoch, _, frames = name.partition(".")
        if epoch == str(self._epoch) and frames.isdigit():
            self._played = max(self._played, min(int(frames), self._sent))
            self.wake()

    def wake(self) -> None:
        self._changed.set()

    async def _mark(self) -> None:
        self._marked = self._sent
        transport = self._transport
        name = f"{self._epoch}.{self._sent}"
        await transport.send(transport.dialect.mark(transport.stream_id, name))
