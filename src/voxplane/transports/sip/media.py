"""One call's RTP: a UDP port pair from the configured range, G.711 both ways, RFC 4733
DTMF both ways, RTCP sender/receiver reports. The protocol logic is in ``voxplane.media``
(``rtp``, ``jitter``, ``dtmf``, ``rtcp``); this module owns the sockets and the clock.

- **Clock.** Every session on an event loop steps on one 20 ms clock (:class:`MediaClock`):
  one task for all calls, not two sleeping tasks per call.
- **Out.** A pacer sends one packet every 20 ms on an absolute schedule for as long as the
  call is up (silence when the agent is quiet: carriers drop calls without RTP), with
  RtpSender numbering (sequence, timestamp, SSRC, marker on the first packet). The agent's
  frames wait in a short queue (:data:`SEND_QUEUE_FRAMES`); what is queued is what
  :meth:`RtpSink.buffered_ms` reports and :meth:`RtpSink.clear` drops.
- **In.** Packets go through the jitter buffer (reorder, duplicates, loss concealment):
  a frame next in order is decoded and queued for the pipeline as it arrives (the pipeline
  listens; it does not play, so it need not wait out the buffer's depth); a missing one is
  waited for up to that depth, then concealed on a 20 ms clock, which also keeps the
  pipeline's audio going when the caller's side sends nothing. The queue is bounded; the
  oldest frame is dropped when the pipeline falls behind. Telephone-events become
  :class:`Dtmf` events.
- **Symmetric RTP.** Audio goes to the address in the SDP until a packet of the negotiated
  payload types arrives from somewhere else; then to that source (a caller behind NAT).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import partial
from typing import ClassVar

import numpy as np

from voxplane.errors import ProtocolError
from voxplane.media.dtmf import DtmfReceiver, PlannedEvent, dtmf_plan
from voxplane.media.frame import AudioFrame, Pcm16
from voxplane.media.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from voxplane.media.jitter import JitterBuffer, JitterConfig, PlayoutFrame
from voxplane.media.rtcp import (
    ReceiverReport,
    ReceiverStats,
    RtcpPacket,
    SenderReport,
    SourceDescription,
    encode_rtcp,
    ntp_timestamp,
    parse_rtcp,
)
from voxplane.media.rtp import RtpPacket, RtpSender, is_rtcp
from voxplane.transports.base import CLOCKED_SINK_LEAD_MS, AudioSink, AudioSource, Dtmf
from voxplane.transports.sip.offer_answer import MediaSession

log = logging.getLogger(__name__)

RATE = 8000
FRAME_SAMPLES = 160
FRAME_S = 0.02
SEND_QUEUE_FRAMES = 100
"""Agent audio accepted ahead of the pacer: 2 s (the pipeline sends in real time)."""
RECEIVE_QUEUE_FRAMES = 50
"""Caller audio waiting for the pipeline: 1 s, then the oldest is dropped."""
RTCP_INTERVAL_S = 5.0
LEARN_PACKETS = 3
"""Packets in sequence from one source before symmetric RTP latches onto it."""
MEDIA_TIMEOUT_S = 60.0
"""No RTP from a caller who should be sending for this long: the line is dead."""
_SILENT_PCMU = ulaw_encode(np.zeros(FRAME_SAMPLES, np.int16))
_SILENT_PCMA = alaw_encode(np.zeros(FRAME_SAMPLES, np.int16))
LATE_RESET_S = 0.1
"""A pacer this late re-anchors its schedule instead of bursting packets."""
Address = tuple[str, int]


class RtpPortPool:
    """Even RTP ports (RTCP on the odd one above) from ``low``-``high``, handed out at random."""

    def __init__(self, low: int, high: int) -> None:
        if not 1024 <= low < high <= 65535:
            raise ValueError("RTP port range must lie within 1024-65535, low < high")
        self.low, self.high = low, high
        self._used: set[int] = set()

    async def open(
        self, host: str, protocol: Callable[[], asyncio.DatagramProtocol]
    ) -> tuple[asyncio.DatagramTransport, asyncio.DatagramTransport, int]:
        """Bind an RTP/RTCP pair; raises OSError when the range is exhausted."""
        loop = asyncio.get_running_loop()
        candidates = [
            p for p in range(self.low + self.low % 2, self.high, 2) if p not in self._used
        ]
        random.shuffle(candidates)
        for port in candidates[:64]:
            try:
                rtp, _ = await loop.create_datagram_endpoint(protocol, local_addr=(host, port))
            except OSError:
                continue
            try:
                rtcp, _ = await loop.create_datagram_endpoint(protocol, local_addr=(host, port + 1))
            except OSError:
                rtp.close()
                continue
            self._used.add(port)
            return rtp, rtcp, port
        raise OSError("no free RTP port in the configured range")

    def release(self, port: int) -> None:
        self._used.discard(port)


class _Socket(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.on_datagram: Callable[[bytes, Address], None] = lambda data, addr: None

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.on_datagram(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        log.debug("rtp socket error", extra={"error": str(exc)})


class RtpSource(AudioSource):
    sample_rate = RATE

    def __init__(self, session: RtpSession) -> None:
        self._session = session

    async def frames(self) -> AsyncIterator[AudioFrame]:
        queue = self._session.received
        while (frame := await queue.get()) is not None:
            yield frame


class RtpSink(AudioSink):
    sample_rate = RATE
    lead_ms = CLOCKED_SINK_LEAD_MS

    def __init__(self, session: RtpSession) -> None:
        self._session = session

    async def send(self, frame: AudioFrame) -> None:
        session = self._session
        samples = frame.samples
        for start in range(0, len(samples), FRAME_SAMPLES):
            chunk = samples[start : start + FRAME_SAMPLES]
            if len(chunk) < FRAME_SAMPLES:
                chunk = np.concatenate([chunk, np.zeros(FRAME_SAMPLES - len(chunk), np.int16)])
            if len(session.outgoing) >= SEND_QUEUE_FRAMES:
                session.outgoing.popleft()  # never block the pipeline on a stuck line
            session.outgoing.append(chunk)

    async def clear(self) -> None:
        self._session.outgoing.clear()
        self._session.played.set()

    def buffered_ms(self) -> float:
        return 20.0 * len(self._session.outgoing)

    async def wait_for_playout(self) -> None:
        session = self._session
        while session.outgoing and not session.closed:
            session.played.clear()
            await session.played.wait()


class RtpSession:
    """RTP and RTCP of one call. Build with :meth:`open`, then :meth:`start` once the
    remote media is known; :meth:`aclose` releases the ports."""

    def __init__(
        self,
        pool: RtpPortPool,
        rtp: asyncio.DatagramTransport,
        rtcp: asyncio.DatagramTransport,
        port: int,
        on_dtmf: Callable[[Dtmf], None],
        *,
        peer_host: str | None = None,
    ) -> None:
        self.port = port
        self._peer_hosts = {peer_host} if peer_host else set()
        self._trusted: set[str] = set(self._peer_hosts)
        self._pool = pool
        self._rtp, self._rtcp = rtp, rtcp
        self._on_dtmf = on_dtmf
        self.media: MediaSession | None = None
        self._remote: Address | None = None
        self._remote_rtcp: Address | None = None
        self._latched = False
        self._candidate: tuple[Address, int, int, int] | None = None
        self.outgoing: deque[Pcm16] = deque()
        self.played = asyncio.Event()
        self.received: asyncio.Queue[AudioFrame | None] = asyncio.Queue(RECEIVE_QUEUE_FRAMES + 1)
        self._sender: RtpSender | None = None
        self._jitter: JitterBuffer | None = None
        self._dtmf_in = DtmfReceiver()
        self._dtmf_out: asyncio.Queue[str] = asyncio.Queue(64)
        self._key: _KeyPress | None = None
        self._stats: ReceiverStats | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.closed = False
        self._last_heard = 0.0
        self.on_media_timeout: Callable[[], None] | None = None
        """Called once when no RTP arrives for :data:`MEDIA_TIMEOUT_S`."""
        self.listening = True
        """The audio goes to a listener (the pipeline): a frame next in order is given
        as it arrives. False: each waits for its playout time, the jitter buffer's depth
        smoothing the network's jitter, for audio that a person will hear (a bridge)."""
        self.source = RtpSource(self)
        self.sink = RtpSink(self)

    @classmethod
    async def open(
        cls,
        pool: RtpPortPool,
        host: str,
        on_dtmf: Callable[[Dtmf], None],
        peer_host: str | None = None,
    ) -> RtpSession:
        """Bind a port pair; ``peer_host`` is where the call's signaling comes from (its
        media is accepted from there as well as from the SDP's address)."""
        rtp, rtcp, port = await pool.open(host, _Socket)
        session = cls(pool, rtp, rtcp, port, on_dtmf, peer_host=peer_host)
        rtp_protocol, rtcp_protocol = rtp.get_protocol(), rtcp.get_protocol()
        assert isinstance(rtp_protocol, _Socket) and isinstance(rtcp_protocol, _Socket)
        rtp_protocol.on_datagram = session._on_rtp
        rtcp_protocol.on_datagram = session._on_rtcp
        return session

    def update(self, media: MediaSession) -> None:
        """Apply a negotiated (or renegotiated: hold, new address) media session."""
        if self.media is None or self.media.codec.name != media.codec.name:
            static_type = 8 if media.codec.name == "PCMA" else 0  # silence is the codec's
            self._jitter = JitterBuffer(JitterConfig.for_payload_type(static_type))
        changed = self.media is None or (
            (media.remote_address, media.remote_port)
            != (self.media.remote_address, self.media.remote_port)
        )
        self.media = media
        if changed:
            self._trusted = {media.remote_address, *self._peer_hosts}
            self._remote = (media.remote_address, media.remote_port)
            self._remote_rtcp = (media.remote_address, media.remote_rtcp_port)
            self._latched = False
            self._candidate = None
        if self._sender is None:
            self._sender = RtpSender(media.codec.payload_type)
        else:
            self._sender.payload_type = media.codec.payload_type
            self._sender.start_talkspurt()

    def start(self) -> None:
        """Join the loop's 20 ms clock (playout and pacing) and start RTCP (owned here,
        stopped by aclose)."""
        self._last_heard = time.monotonic()
        if not self._tasks:
            self._tasks.append(asyncio.get_running_loop().create_task(self._report()))
            MediaClock.of_running_loop().join(self)

    async def send_dtmf(self, keys: str) -> None:
        """Queue RFC 4733 key presses; the pacer sends them in place of audio."""
        if self.media is None or self.media.dtmf_payload_type is None:
            raise ValueError("the remote side did not negotiate telephone-event")
        for key in keys:
            dtmf_plan(key)  # validates the key before anything is queued
        for key in keys:
            await self._dtmf_out.put(key)

    # --- receiving -------------------------------------------------------------------

    def _on_rtp(self, data: bytes, addr: Address) -> None:
        media = self.media
        if media is None or self.closed:
            return
        if is_rtcp(data):
            self._on_rtcp(data, addr)
            return
        if not self._accepts(addr):
            return
        try:
            packet = RtpPacket.parse(data)
        except ProtocolError:
            return
        now = time.monotonic()
        self._last_heard = now
        if packet.payload_type == media.dtmf_payload_type:
            self._learn(addr, packet)
            for press in self._dtmf_in.on_packet(packet, now):
                self._on_dtmf(Dtmf(press.key, press.duration_ms))
        elif packet.payload_type == media.codec.payload_type:
            self._learn(addr, packet)
            if self._stats is None or self._stats.ssrc != packet.ssrc:
                self._stats = ReceiverStats(packet.ssrc)
            self._stats.on_packet(packet.sequence, packet.timestamp, now)
            if self._jitter is not None:
                self._jitter.push(packet, now)
                if self.listening:
                    self._play(self._jitter.ready)

    def _accepts(self, addr: Address) -> bool:
        """Media from the latched address only; before that, from the hosts the call's
        SDP and signaling came from (a stranger cannot inject audio or keys, nor take the
        stream over)."""
        if self._latched:
            return addr == self._remote
        return addr[0] in self._trusted

    def _learn(self, addr: Address, packet: RtpPacket) -> None:
        """Latch onto ``addr`` once it has sent :data:`LEARN_PACKETS` packets in sequence
        from one SSRC (stray or forged datagrams never do)."""
        if self._latched:
            return
        seen = self._candidate
        follows = (
            seen is not None
            and seen[:2] == (addr, packet.ssrc)
            and (packet.sequence - seen[2]) % 65536 == 1
        )
        count = seen[3] + 1 if follows and seen is not None else 1
        self._candidate = (addr, packet.ssrc, packet.sequence, count)
        if count >= LEARN_PACKETS:
            self._remote = addr
            self._remote_rtcp = (addr[0], addr[1] + 1)
            self._latched = True

    def _on_rtcp(self, data: bytes, addr: Address) -> None:
        try:
            packets = parse_rtcp(data)
        except ProtocolError:
            return
        for packet in packets:
            stats = self._stats
            if isinstance(packet, SenderReport) and stats is not None and packet.ssrc == stats.ssrc:
                stats.on_sender_report(packet, time.monotonic())

    def tick(self, now: float) -> None:
        """One 20 ms step of the call's clocks (``now``: monotonic seconds): the caller's
        frames that are due (concealed ones included), then one packet out."""
        self._playout(now)
        self._pace(now)

    def _playout(self, now: float) -> None:
        self._check_media(now)
        if self._jitter is not None:
            self._play(partial(self._jitter.pop, now))
        press = self._dtmf_in.expire(now)
        if press is not None:
            self._on_dtmf(Dtmf(press.key, press.duration_ms))

    def _play(self, take: Callable[[], PlayoutFrame | None]) -> None:
        """Deliver the frames ``take`` gives, decoded, until it gives None."""
        decode = alaw_decode if self._codec_name() == "PCMA" else ulaw_decode
        while (frame := take()) is not None:
            self._deliver(AudioFrame(decode(frame.payload), RATE))

    def _check_media(self, now: float) -> None:
        """Call :attr:`on_media_timeout` once when a sending peer has gone silent on the
        wire (not on hold: a held caller sends nothing, rightly)."""
        receives = self.media is not None and self.media.receives
        if not receives:
            self._last_heard = now
        elif now - self._last_heard > MEDIA_TIMEOUT_S and self.on_media_timeout is not None:
            callback, self.on_media_timeout = self.on_media_timeout, None
            callback()

    def _deliver(self, frame: AudioFrame) -> None:
        if self.received.qsize() >= RECEIVE_QUEUE_FRAMES:
            with contextlib.suppress(asyncio.QueueEmpty):
                self.received.get_nowait()
        self.received.put_nowait(frame)

    # --- sending ---------------------------------------------------------------------

    def _codec_name(self) -> str:
        return self.media.codec.name if self.media is not None else "PCMU"

    def _pace(self, now: float) -> None:
        media, sender = self.media, self._sender
        if media is None or sender is None:
            return
        if self._key is None and not self._dtmf_out.empty() and media.sends:
            self._key = _KeyPress(dtmf_plan(self._dtmf_out.get_nowait()), sender.timestamp, now)
        if self._key is not None:
            self._send_key(self._key, media, sender, now)
            return
        samples = self.outgoing.popleft() if self.outgoing else None
        if not self.outgoing:
            self.played.set()
        if not media.sends:
            sender.skip(FRAME_SAMPLES)  # on hold: time goes on, nothing is sent
            return
        pcma = media.codec.name == "PCMA"
        if samples is None:  # the agent is quiet: most packets of a call
            self._send(sender.audio(_SILENT_PCMA if pcma else _SILENT_PCMU))
            return
        self._send(sender.audio(alaw_encode(samples) if pcma else ulaw_encode(samples)))

    def _send_key(self, key: _KeyPress, media: MediaSession, sender: RtpSender, now: float) -> None:
        """The packets of a key press due by ``now``, in place of audio (RFC 4733 §2.5: all
        share the timestamp of its start); once the last is out, audio goes on after it."""
        assert media.dtmf_payload_type is not None
        plan = key.plan
        while key.sent < len(plan) and plan[key.sent].offset_ms <= 1000 * (now - key.started):
            step = plan[key.sent]
            event = sender.event(media.dtmf_payload_type, key.timestamp, step.payload, step.marker)
            self._send(event)
            key.sent += 1
        if key.sent == len(plan):
            sender.skip(plan[-1].offset_ms * RATE // 1000)
            self._key = None

    def _send(self, packet: RtpPacket) -> None:
        if self._remote is not None and not self.closed:
            self._rtp.sendto(packet.encode(), self._remote)

    async def _report(self) -> None:
        while True:
            await asyncio.sleep(RTCP_INTERVAL_S * random.uniform(0.5, 1.5))  # RFC 3550 6.3.1
            data = self._rtcp_report()
            if data is not None and self._remote_rtcp is not None:
                self._rtcp.sendto(data, self._remote_rtcp)

    def _rtcp_report(self) -> bytes | None:
        sender = self._sender
        if sender is None:
            return None
        blocks = () if self._stats is None else (self._stats.report(time.monotonic()),)
        report: RtcpPacket
        if sender.packets_sent:
            ntp = ntp_timestamp(time.time())
            report = SenderReport(
                sender.ssrc, ntp, sender.timestamp, sender.packets_sent, sender.octets_sent, blocks
            )
        else:
            report = ReceiverReport(sender.ssrc, blocks)
        return encode_rtcp([report, SourceDescription(sender.ssrc, f"voxplane@{self.port}")])

    async def aclose(self) -> None:
        """Stop the clocks, end the caller audio, release the ports; idempotent."""
        if self.closed:
            return
        self.closed = True
        MediaClock.of_running_loop().leave(self)
        self.played.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.end_audio()
        self._rtp.close()
        self._rtcp.close()
        await asyncio.sleep(0)  # the sockets close on the next loop turn: then reusable
        self._pool.release(self.port)

    def end_audio(self) -> None:
        """End the caller's audio for the pipeline (the caller hung up)."""
        while self.received.full():
            self.received.get_nowait()
        self.received.put_nowait(None)


@dataclass(slots=True)
class _KeyPress:
    """An RFC 4733 key press being sent: its packets, how many are out, its timestamp."""

    plan: tuple[PlannedEvent, ...]
    timestamp: int
    started: float
    sent: int = 0


class MediaClock:
    """The 20 ms clock of every RTP session on one event loop: one task ticks them all, on
    an absolute schedule (re-anchored when more than :data:`LATE_RESET_S` behind), instead
    of two sleeping tasks per call; their packets leave together, each tick.

    A session joins when it starts and leaves when it closes; the task ends when none is
    left. A session whose tick raises is logged and dropped from the clock, and its call
    ends (the caller's audio ends, as at a hang-up); the others go on.
    """

    _clocks: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, MediaClock]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self) -> None:
        self._sessions: dict[RtpSession, None] = {}  # insertion-ordered set
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def of_running_loop(cls) -> MediaClock:
        loop = asyncio.get_running_loop()
        clock = cls._clocks.get(loop)
        if clock is None:
            clock = cls._clocks[loop] = cls()
        return clock

    def join(self, session: RtpSession) -> None:
        self._sessions[session] = None
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def leave(self, session: RtpSession) -> None:
        self._sessions.pop(session, None)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while self._sessions:
            if loop.time() - due > LATE_RESET_S:
                due = loop.time()
            now = time.monotonic()
            for session in list(self._sessions):
                try:
                    session.tick(now)
                except Exception:
                    log.exception("rtp session dropped from the media clock: ending its call")
                    self.leave(session)
                    session.end_audio()  # no media without the clock: the call ends
            due += FRAME_S
            await asyncio.sleep(max(0.0, due - loop.time()))
        self._task = None  # a finished task holds its loop, the key this clock is kept by
