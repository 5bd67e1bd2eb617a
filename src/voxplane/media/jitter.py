"""A jitter buffer for one incoming G.711 RTP stream: ``push(packet, now)`` / ``pop(now)``.

Pure: the caller passes ``now`` (seconds, any monotonic origin) and calls :meth:`pop` from its
20 ms playout clock, looping while it returns frames. A caller that listens rather than
plays (speech recognition) also takes each frame as soon as it is next in order
(:meth:`JitterBuffer.ready`, after each push): the depth then only bounds how long a
missing frame is waited for.

How it plays:

- **Playout time.** Packet timestamps are unwrapped to 64 bits; a packet with timestamp ``ts``
  plays at ``ts / clock_rate + offset``. ``offset`` is set from the first packet as
  ``arrival - ts / clock_rate + depth``, and set again at each talkspurt start (a marker
  packet after a gap) and after a reset, so the depth can change without cutting speech.
- **Depth.** ``min_depth_s == max_depth_s`` gives a fixed buffer. Otherwise the depth is
  adaptive: ``clamp(3 × J, min_depth_s, max_depth_s)`` with J the RFC 3550 (A.8)
  interarrival jitter, applied at talkspurt starts only.
- **Order.** Packets are kept by timestamp: reordered packets play in order; a duplicate
  (same timestamp) and a packet whose timestamp has already been played (too late) are
  dropped and counted.
- **Loss.** When the frame due has not arrived, one ``frame_samples`` frame is concealed: the
  first missing frame repeats the last played payload (packet repetition, ITU-T G.711
  Appendix I's simplest form), further consecutive missing frames are ``silence_byte``
  (0xFF is μ-law silence; use 0xD5 for A-law).
- **Gaps and drift.** If the earliest buffered packet lies ahead of the frame due by more
  than ``max_depth_s`` of concealment, or is a marker packet, playout jumps to it (the sender
  paused). If more than ``max_depth_s + frame`` of audio is waiting (sender clock faster than
  ours), the oldest frames are dropped. A timestamp more than ``reset_s`` away from the
  stream position resets the buffer (sender restarted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from voxplane.media.rtp import RtpPacket, ts_delta

FrameStatus = Literal["ok", "repeated", "silence"]


@dataclass(frozen=True, slots=True)
class JitterConfig:
    """Buffer settings; depths in seconds."""

    clock_rate: int = 8000
    frame_samples: int = 160
    min_depth_s: float = 0.04
    max_depth_s: float = 0.2
    max_packets: int = 64
    silence_byte: int = 0xFF
    reset_s: float = 10.0

    @classmethod
    def for_payload_type(
        cls, payload_type: int, *, min_depth_s: float = 0.04, max_depth_s: float = 0.2
    ) -> JitterConfig:
        """Settings whose silence is the codec's: μ-law 0xFF (PT 0), A-law 0xD5 (PT 8)."""
        silence = {0: 0xFF, 8: 0xD5}.get(payload_type)
        if silence is None:
            raise ValueError(f"no G.711 silence for payload type {payload_type}")
        return cls(min_depth_s=min_depth_s, max_depth_s=max_depth_s, silence_byte=silence)


class PlayoutFrame(NamedTuple):
    """A frame to decode and play: real (``ok``) or concealed (``repeated`` / ``silence``).

    A NamedTuple (immutable, cheap to build): one is made every 20 ms on every call.
    """

    timestamp: int
    payload: bytes
    status: FrameStatus


@dataclass(slots=True)
class JitterStats:
    """Counters since creation."""

    received: int = 0
    played: int = 0
    duplicates: int = 0
    late: int = 0
    concealed: int = 0
    overflow: int = 0
    resets: int = 0


@dataclass(slots=True)
class JitterBuffer:
    """Reorders, de-duplicates and conceals one stream; see the module docstring."""

    config: JitterConfig = field(default_factory=JitterConfig)
    stats: JitterStats = field(default_factory=JitterStats)
    _packets: dict[int, RtpPacket] = field(default_factory=dict)
    _last_ts: int | None = None  # unwrapped timestamp of the last packet pushed
    _next_ts: int | None = None  # unwrapped timestamp of the next frame to play
    _offset: float = 0.0
    _jitter: float = 0.0  # RFC 3550 A.8, in timestamp units
    _transit: float | None = None
    _last_payload: bytes = b""
    _missing_run: int = 0

    @property
    def depth_s(self) -> float:
        """The depth the next talkspurt will start with."""
        cfg = self.config
        return min(max(3 * self._jitter / cfg.clock_rate, cfg.min_depth_s), cfg.max_depth_s)

    @property
    def jitter_s(self) -> float:
        """Interarrival jitter estimate in seconds."""
        return self._jitter / self.config.clock_rate

    def push(self, packet: RtpPacket, now: float) -> None:
        """Accept one received packet."""
        cfg = self.config
        self.stats.received += 1
        ts = self._unwrap(packet.timestamp)
        if self._next_ts is not None and abs(ts - self._next_ts) > cfg.reset_s * cfg.clock_rate:
            self._reset()
            self.stats.resets += 1
            ts = self._unwrap(packet.timestamp)
        self._last_ts = ts
        self._update_jitter(ts, now)
        if self._next_ts is None:
            self._start(ts, now)
        assert self._next_ts is not None
        if ts < self._next_ts:
            self.stats.late += 1
            return
        if ts in self._packets:
            self.stats.duplicates += 1
            return
        self._packets[ts] = packet
        if packet.marker and self._missing_run and min(self._packets) == ts:
            self._start(ts, now)  # talkspurt start after a pause: new depth, no stale wait
        self._trim()

    def pop(self, now: float) -> PlayoutFrame | None:
        """The next frame if it is due at ``now``, else None. Call in a loop until None."""
        cfg = self.config
        if self._next_ts is None or now < self._next_ts / cfg.clock_rate + self._offset:
            return None
        if self._packets and self._next_ts not in self._packets:
            first = min(self._packets)
            gap = (first - self._next_ts) / cfg.clock_rate
            if gap > cfg.max_depth_s or (self._packets[first].marker and self._missing_run):
                self._advance_to(first)  # the sender paused: its next talkspurt plays now
        frame = self.ready()
        if frame is not None:
            return frame
        timestamp = self._next_ts % (1 << 32)
        self._next_ts += cfg.frame_samples
        self._missing_run += 1
        self.stats.concealed += 1
        if self._missing_run == 1 and len(self._last_payload) == cfg.frame_samples:
            return PlayoutFrame(timestamp, self._last_payload, "repeated")
        return PlayoutFrame(timestamp, bytes([cfg.silence_byte]) * cfg.frame_samples, "silence")

    def ready(self) -> PlayoutFrame | None:
        """The next frame if it has arrived, before it is due. A listener (a VAD, speech
        recognition) gains nothing from the depth, which is there to wait for a frame that
        has not come: call this after each :meth:`push`, and :meth:`pop` on the clock for
        the frames that must be concealed. The schedule is kept: a missing frame is still
        concealed only once it is due."""
        if self._next_ts is None:
            return None
        packet = self._packets.pop(self._next_ts, None)
        if packet is None:
            return None
        self._next_ts += max(len(packet.payload), 1)
        self._last_payload = packet.payload
        self._missing_run = 0
        self.stats.played += 1
        return PlayoutFrame(packet.timestamp, packet.payload, "ok")

    def _unwrap(self, timestamp: int) -> int:
        if self._last_ts is None:
            return timestamp
        return self._last_ts + ts_delta(timestamp, self._last_ts % (1 << 32))

    def _update_jitter(self, ts: int, now: float) -> None:
        transit = now * self.config.clock_rate - ts
        if self._transit is not None:
            self._jitter += (abs(transit - self._transit) - self._jitter) / 16
        self._transit = transit

    def _start(self, ts: int, now: float) -> None:
        self._next_ts = ts
        self._offset = now - ts / self.config.clock_rate + self.depth_s

    def _trim(self) -> None:
        cfg = self.config
        limit = (cfg.max_depth_s * cfg.clock_rate) + cfg.frame_samples
        assert self._next_ts is not None
        while self._packets and (
            len(self._packets) > cfg.max_packets or max(self._packets) - self._next_ts > limit
        ):
            oldest = min(self._packets)
            if oldest > self._next_ts:
                self._advance_to(oldest)  # skip the gap before dropping any audio
                continue
            packet = self._packets.pop(oldest)
            self._advance_to(oldest + max(len(packet.payload), 1))
            self.stats.overflow += 1

    def _advance_to(self, ts: int) -> None:
        """Move the playout position to ``ts``; the frame now due stays due at the same time."""
        assert self._next_ts is not None
        self._offset -= (ts - self._next_ts) / self.config.clock_rate
        self._next_ts = ts

    def _reset(self) -> None:
        self._packets.clear()
        self._last_ts = self._next_ts = self._transit = None
        self._missing_run = 0
