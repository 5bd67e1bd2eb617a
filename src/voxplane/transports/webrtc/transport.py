"""One WebRTC call over aiortc: the page's microphone in, the agent's voice out, and a data
channel for the live transcript, turn metrics and the agent's state.

::

    page ══ Opus/SRTP ══► RemoteStreamTrack ─► mono, 48→16 kHz, 20 ms ─► source.frames()
    page ◄═ Opus/SRTP ══ AgentTrack.recv() (paced 20 ms) ◄─ queue (10 frames) ◄─ sink.send()
    page ◄─ data channel "voxplane" ── publish(): call, state, transcript, metrics
    page ── data channel ──► hangup, dtmf ─► events()

aiortc pulls the agent's audio from :class:`AgentTrack` every 20 ms, so the sink is a
small bounded queue: its depth is :meth:`AudioSink.buffered_ms`, and clearing it (barge-in)
silences the caller's side within one frame. The page's data-channel messages are parsed
by :mod:`.messages`; a malformed one, or more than the :class:`FloodGuard` allows, closes
the connection (the call ends as a remote hang-up).
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import secrets
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import numpy as np
from aiortc import MediaStreamTrack, RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from aiortc.sdp import SessionDescription
from av import AudioFrame as AvFrame
from av.frame import Frame

from voxplane.errors import CallError
from voxplane.media.frame import AudioFrame, Pcm16, samples_per_frame
from voxplane.media.resample import Resampler
from voxplane.transports.base import (
    CLOCKED_SINK_LEAD_MS,
    DTMF_KEYS,
    AudioSink,
    AudioSource,
    CallEvent,
    CallInfo,
    Dtmf,
    RemoteHangup,
    Transport,
)
from voxplane.transports.webrtc import messages
from voxplane.transports.webrtc.ice import IceServerConfig, rtc_configuration

log = logging.getLogger(__name__)

OPUS_RATE = 48_000
PIPELINE_RATE = 16_000
SINK_FRAMES = 10
"""Agent frames queued ahead of the track (200 ms): the pacer sends in real time, so more
would only delay a barge-in's silence."""
QUIET_FRAMES = 15
"""The agent is "listening" again after this many 20 ms frames with nothing to play (a
slow synthesizer's gaps between sentences are not the end of its turn)."""
PENDING_MESSAGES = 64
"""Server messages kept while the data channel is still opening; older ones drop."""
MAX_OFFER_CHARS = 64 * 1024
CLOSE_TIMEOUT_S = 5.0
"""Closing a peer connection (DTLS close, ICE teardown) gets this long; then it is left."""


class OfferError(CallError):
    """The offer cannot start a call: not SDP, or no audio to talk over."""


@dataclass(frozen=True, slots=True)
class WebRtcOptions:
    ice_servers: tuple[IceServerConfig, ...] = ()
    connect_timeout_s: float = 15.0
    """How long ICE and DTLS may take before the call is given up."""


def check_offer(sdp: str) -> None:
    """Refuse an offer that is not SDP or carries no audio, before anything is built."""
    if len(sdp) > MAX_OFFER_CHARS:
        raise OfferError(f"the offer is over {MAX_OFFER_CHARS} characters")
    try:
        parsed = SessionDescription.parse(sdp)
    except (ValueError, IndexError, KeyError, TypeError, AttributeError) as error:
        raise OfferError("the offer is not valid SDP") from error
    audio = [m for m in parsed.media if m.kind == "audio"]
    if not audio or not any(
        c.mimeType.lower() == "audio/opus" for m in audio for c in m.rtp.codecs
    ):
        raise OfferError("the offer has no Opus audio")
    if not all(m.ice is not None and m.ice.usernameFragment and m.dtls for m in parsed.media):
        raise OfferError("the offer lacks ICE credentials or a DTLS fingerprint")


class AgentTrack(MediaStreamTrack):
    """The agent's voice as aiortc pulls it: 20 ms mono frames at 48 kHz, silence when
    the agent is quiet, paced by the loop clock."""

    kind = "audio"

    def __init__(self, on_state: AgentStateHook) -> None:
        super().__init__()
        self.queue: asyncio.Queue[Pcm16] = asyncio.Queue(SINK_FRAMES)
        self.drained = asyncio.Event()
        self.drained.set()
        self._on_state = on_state
        self._size = samples_per_frame(OPUS_RATE)
        self._silence = np.zeros(self._size, dtype=np.int16)
        self._start: float | None = None
        self._pts = 0
        self._speaking = False
        self._quiet = 0

    async def recv(self) -> Frame:
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        else:
            self._pts += self._size
            await asyncio.sleep(max(0.0, self._start + self._pts / OPUS_RATE - loop.time()))
        try:
            samples = self.queue.get_nowait()
            if not self._speaking:
                self._speaking = True
                self._on_state("speaking")
        except asyncio.QueueEmpty:
            samples = self._silence
            self.drained.set()
            self._quiet += 1
            if self._speaking and self._quiet >= QUIET_FRAMES:
                self._speaking = False
                self._on_state("listening")
        else:
            self._quiet = 0
        frame = AvFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = OPUS_RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, OPUS_RATE)
        return frame

    def clear(self) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()
        self.drained.set()


class AgentStateHook:
    """Tells the page when the agent starts and stops being heard."""

    def __init__(self, transport: WebRtcTransport) -> None:
        self._transport = transport

    def __call__(self, state: messages.AgentState) -> None:
        self._transport.publish(messages.encode("state", state=state))


class _Sink(AudioSink):
    sample_rate = OPUS_RATE
    lead_ms = CLOCKED_SINK_LEAD_MS

    def __init__(self, track: AgentTrack, closed: asyncio.Event) -> None:
        self._track = track
        self._closed = closed

    async def send(self, frame: AudioFrame) -> None:
        if self._closed.is_set():
            return
        self._track.drained.clear()
        await self._track.queue.put(frame.samples)
        if self._closed.is_set():  # closed while waiting for room: nobody will play it
            self._track.clear()

    async def clear(self) -> None:
        self._track.clear()

    def buffered_ms(self) -> float:
        return 20.0 * self._track.queue.qsize()

    async def wait_for_playout(self) -> None:
        closed = asyncio.ensure_future(self._closed.wait())
        drained = asyncio.ensure_future(self._track.drained.wait())
        try:
            await asyncio.wait((closed, drained), return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
            drained.cancel()


class _Source(AudioSource):
    """The page's microphone: 20 ms mono frames at 16 kHz."""

    sample_rate = PIPELINE_RATE

    def __init__(self, remote: asyncio.Future[MediaStreamTrack]) -> None:
        self._remote = remote
        self._size = samples_per_frame(PIPELINE_RATE)

    async def frames(self) -> AsyncIterator[AudioFrame]:
        if not self._remote.done():  # accept() refuses offers without audio
            return
        track = self._remote.result()
        resampler: Resampler | None = None
        pending: Pcm16 = np.zeros(0, dtype=np.int16)
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            assert isinstance(frame, AvFrame)
            channels = len(frame.layout.channels)
            pcm = frame.to_ndarray().reshape(-1, channels).mean(axis=1).astype(np.int16)
            if resampler is None:
                resampler = Resampler(frame.sample_rate, PIPELINE_RATE, "LQ")
            pending = np.concatenate([pending, resampler.process(pcm)])
            while len(pending) >= self._size:
                yield AudioFrame(pending[: self._size], PIPELINE_RATE)
                pending = pending[self._size :]


@dataclass(slots=True)
class _Channel:
    channel: RTCDataChannel | None = None
    pending: deque[str] = field(default_factory=lambda: deque(maxlen=PENDING_MESSAGES))
    guard: messages.FloodGuard = field(default_factory=messages.FloodGuard)


class WebRtcTransport(Transport):
    """A call with a page. Build it with :meth:`accept`; it answers the page's offer."""

    def __init__(self, pc: RTCPeerConnection, options: WebRtcOptions, info: CallInfo) -> None:
        self.info = info
        self._pc = pc
        self._options = options
        self._remote: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()
        self._closed = asyncio.Event()
        self._connected = asyncio.Event()
        self._events: asyncio.Queue[CallEvent] = asyncio.Queue(64)
        self._dc = _Channel()
        self._hangup_reason: str | None = None
        self.track = AgentTrack(AgentStateHook(self))
        self.source = _Source(self._remote)
        self.sink = _Sink(self.track, self._closed)
        pc.on("track", self._on_track)
        pc.on("datachannel", self._on_datachannel)
        pc.on("connectionstatechange", self._on_state)

    @classmethod
    async def accept(
        cls, offer: str, options: WebRtcOptions, info: CallInfo | None = None
    ) -> tuple[WebRtcTransport, str]:
        """Answer a page's SDP offer: the transport and the answer's SDP. Raises
        :class:`OfferError` (nothing left open) for an offer that cannot start a call."""
        check_offer(offer)
        info = info or CallInfo(f"webrtc-{secrets.token_hex(8)}", "webrtc", "inbound")
        pc = RTCPeerConnection(rtc_configuration(options.ice_servers))
        transport = cls(pc, options, info)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
            if not transport._remote.done():
                raise OfferError("the offer sends no audio")
            pc.addTrack(transport.track)
            await pc.setLocalDescription(await pc.createAnswer())
        except (ValueError, TypeError, KeyError, AttributeError, OfferError) as error:
            await transport.aclose()
            if isinstance(error, OfferError):
                raise
            raise OfferError(f"the offer cannot be answered: {error}") from error
        except BaseException:
            await transport.aclose()
            raise
        return transport, pc.localDescription.sdp

    async def connected(self) -> bool:
        """Wait until media can flow (ICE and DTLS done); False if the connection failed,
        closed or took longer than ``connect_timeout_s``."""
        closed = asyncio.ensure_future(self._closed.wait())
        connected = asyncio.ensure_future(self._connected.wait())
        try:
            async with asyncio.timeout(self._options.connect_timeout_s):
                await asyncio.wait((connected, closed), return_when=asyncio.FIRST_COMPLETED)
        except TimeoutError:
            return False
        finally:
            closed.cancel()
            connected.cancel()
        return self._connected.is_set() and not self._closed.is_set()

    # --- peer connection callbacks ----------------------------------------------------

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio" and not self._remote.done():
            self._remote.set_result(track)

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if channel.label != messages.CHANNEL_LABEL or self._dc.channel is not None:
            channel.close()
            return
        self._dc.channel = channel
        channel.on("open", self._flush)
        channel.on("message", self._on_message)
        # The page closing its channel is a hang-up, even if its connection's own close
        # (DTLS close_notify) is lost; ICE consent would only notice after 30 s.
        channel.on("close", lambda: self._gone("caller_hangup"))
        if channel.readyState == "open":
            self._flush()

    def _on_state(self) -> None:
        state = self._pc.connectionState
        if state == "connected":
            self._connected.set()
        elif state in ("failed", "closed"):
            self._gone("connection_" + state)

    def _on_message(self, text: str | bytes) -> None:
        if self._closed.is_set():
            return
        if not self._dc.guard.allow(asyncio.get_running_loop().time()):
            log.warning("webrtc data channel flood; closing the call")
            self._gone("protocol_error")
            return
        try:
            message = messages.parse(text)
        except messages.MessageError as error:
            log.warning("webrtc data channel message refused", extra={"error": str(error)})
            self._gone("protocol_error")
            return
        match message:
            case messages.HangupRequest():
                self._gone("caller_hangup")
            case messages.KeysPressed(keys=keys):
                for key in keys:
                    if self._events.full():
                        self._gone("protocol_error")
                        return
                    self._events.put_nowait(Dtmf(key))

    def _gone(self, reason: str) -> None:
        """The page's side is over: end the source, the events and the playout waits."""
        if self._hangup_reason is None:
            self._hangup_reason = reason
        self._closed.set()
        self.track.stop()
        self.track.clear()  # a send waiting for room returns (and drops its frame)

    # --- data channel -----------------------------------------------------------------

    def publish(self, message: str) -> None:
        """Send a server message to the page (kept until the channel opens)."""
        channel = self._dc.channel
        if channel is not None and channel.readyState == "open":
            channel.send(message)
        elif not self._closed.is_set():
            self._dc.pending.append(message)

    def _flush(self) -> None:
        channel = self._dc.channel
        while self._dc.pending and channel is not None and channel.readyState == "open":
            channel.send(self._dc.pending.popleft())

    # --- the transport contract ---------------------------------------------------------

    async def events(self) -> AsyncIterator[CallEvent]:
        closed = asyncio.ensure_future(self._closed.wait())
        getting: asyncio.Future[CallEvent] | None = None
        try:
            while True:
                getting = asyncio.ensure_future(self._events.get())
                await asyncio.wait((getting, closed), return_when=asyncio.FIRST_COMPLETED)
                if getting.done():
                    yield getting.result()
                    continue
                if self._hangup_reason != "agent":
                    yield RemoteHangup(self._hangup_reason or "caller_hangup")
                return
        finally:
            closed.cancel()
            if getting is not None:
                getting.cancel()

    async def hang_up(self) -> None:
        self.publish(messages.encode("state", state="ended"))
        if self._hangup_reason is None:
            self._hangup_reason = "agent"
        await self._close_peer()

    async def transfer(self, target: str) -> None:
        # A browser cannot be handed to a phone line: the page is told where to, and the
        # call ends here.
        self.publish(messages.encode("transfer", target=target))
        await self.hang_up()

    async def send_dtmf(self, keys: str) -> None:
        if not keys or not set(keys) <= DTMF_KEYS:
            raise ValueError(f"not DTMF keys: {keys!r}")
        self.publish(messages.encode("dtmf", keys=keys))

    async def aclose(self) -> None:
        if self._hangup_reason is None:
            self._hangup_reason = "agent"
        await self._close_peer()

    async def _close_peer(self) -> None:
        channel = self._dc.channel
        if channel is not None and channel.readyState == "open" and not self._closed.is_set():
            # Let the last messages ("ended", a transfer) leave before the channel closes.
            for _ in range(10):
                if channel.bufferedAmount == 0:
                    break
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.02)
        self._gone(self._hangup_reason or "agent")
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await self._pc.close()
        except TimeoutError:
            log.warning("webrtc peer connection did not close in time")
        except Exception as error:  # closing is best effort; the call is over either way
            log.warning("webrtc peer connection close failed", extra={"error": repr(error)})
