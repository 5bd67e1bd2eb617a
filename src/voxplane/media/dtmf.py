"""RFC 4733 telephone-events (DTMF): payloads, a receiver that yields key presses, a sender;
and the keys as in-band tones (:func:`dtmf_tones`) for lines that carry only audio.

Pure: the receiver is fed RTP packets of the telephone-event payload type with ``now``; the
sender returns the packet plan and the caller paces it (times are offsets in ms).

Receiver rule: an event is identified by its RTP timestamp (RFC 4733 §2.5.1.1: all packets
of one event share it). A key press is reported exactly once per event: when its first end
packet arrives, or (end packets lost) when a packet of a newer event arrives or
:meth:`DtmfReceiver.expire` finds the event silent for ``timeout_s``. Retransmitted end
packets and late packets of reported events are ignored.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass

import numpy as np

from voxplane.errors import ProtocolError
from voxplane.media.frame import Pcm16
from voxplane.media.rtp import RtpPacket, ts_delta

KEYS = "0123456789*#ABCD"
"""Event codes 0–15 (RFC 4733 §3.2) in order."""
_PAYLOAD = struct.Struct("!BBH")


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """One 4-byte telephone-event payload (RFC 4733 §2.3)."""

    event: int
    end: bool
    volume: int
    duration: int

    @classmethod
    def parse(cls, payload: bytes) -> TelephoneEvent:
        """Parse the first (usually only) event block of a payload."""
        if len(payload) < 4:
            raise ProtocolError("telephone-event payload shorter than 4 bytes")
        event, flags, duration = _PAYLOAD.unpack_from(payload)
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration)

    def encode(self) -> bytes:
        """The 4-byte payload (R bit zero)."""
        flags = (0x80 if self.end else 0) | (self.volume & 0x3F)
        return _PAYLOAD.pack(self.event, flags, min(self.duration, 0xFFFF))

    @property
    def key(self) -> str | None:
        """The keypad key for DTMF events 0–15, None for other events."""
        return KEYS[self.event] if self.event < len(KEYS) else None


@dataclass(frozen=True, slots=True)
class KeyPress:
    """A DTMF key the caller pressed, once per event."""

    key: str
    duration_ms: int
    timestamp: int


@dataclass(slots=True)
class _Current:
    timestamp: int
    event: TelephoneEvent
    last_seen: float


class DtmfReceiver:
    """Turns telephone-event packets into key presses; see the module docstring."""

    def __init__(self, clock_rate: int = 8000, timeout_s: float = 1.0) -> None:
        self.clock_rate = clock_rate
        self.timeout_s = timeout_s
        self._current: _Current | None = None
        self._done: deque[int] = deque(maxlen=16)  # timestamps already reported

    def on_packet(self, packet: RtpPacket, now: float) -> list[KeyPress]:
        """Feed one packet of the telephone-event payload type; returns 0, 1 or 2 presses."""
        event = TelephoneEvent.parse(packet.payload)
        if event.key is None or packet.timestamp in self._done:
            return []
        presses: list[KeyPress] = []
        current = self._current
        if current is not None and current.timestamp != packet.timestamp:
            if ts_delta(packet.timestamp, current.timestamp) < 0:
                return []  # a stray packet of an older event
            presses.append(self._finish())
        if self._current is None:
            self._current = _Current(packet.timestamp, event, now)
        else:
            self._current.event, self._current.last_seen = event, now
        if event.end:
            presses.append(self._finish())
        return presses

    def expire(self, now: float) -> KeyPress | None:
        """Report an event whose end packets never came, once ``timeout_s`` has passed."""
        if self._current is not None and now - self._current.last_seen >= self.timeout_s:
            return self._finish()
        return None

    def _finish(self) -> KeyPress:
        current = self._current
        assert current is not None and current.event.key is not None
        self._current = None
        self._done.append(current.timestamp)
        duration_ms = current.event.duration * 1000 // self.clock_rate
        return KeyPress(current.event.key, duration_ms, current.timestamp)


@dataclass(frozen=True, slots=True)
class PlannedEvent:
    """One packet of a key press to send ``offset_ms`` after the first."""

    payload: bytes
    marker: bool
    offset_ms: int


def dtmf_plan(
    key: str,
    *,
    duration_ms: int = 100,
    volume: int = 10,
    interval_ms: int = 20,
    clock_rate: int = 8000,
) -> tuple[PlannedEvent, ...]:
    """The packets of one key press (RFC 4733 §2.5.1): marker first, updates, 3 end packets.

    Packet ``k`` goes out at ``k * interval_ms`` with the duration so far (the first one 0);
    the end packet, sent three times at ``duration_ms``, carries the full duration. All share
    the event's RTP timestamp: send them with :meth:`voxplane.media.rtp.RtpSender.event`.
    """
    if key.upper() not in KEYS or len(key) != 1:
        raise ValueError(f"not a DTMF key: {key!r}")
    if duration_ms <= 0 or interval_ms <= 0:
        raise ValueError("duration_ms and interval_ms must be positive")
    event = KEYS.index(key.upper())
    per_ms = clock_rate // 1000
    plan = [
        PlannedEvent(TelephoneEvent(event, False, volume, t * per_ms).encode(), t == 0, t)
        for t in range(0, duration_ms, interval_ms)
    ]
    end = TelephoneEvent(event, True, volume, duration_ms * per_ms).encode()
    plan += [PlannedEvent(end, False, duration_ms)] * 3
    return tuple(plan)


TONE_ROWS_HZ = (697.0, 770.0, 852.0, 941.0)
TONE_COLUMNS_HZ = (1209.0, 1336.0, 1477.0, 1633.0)
KEYPAD = ("123A", "456B", "789C", "*0#D")
"""The keys by row (:data:`TONE_ROWS_HZ`) and column (:data:`TONE_COLUMNS_HZ`)."""


def dtmf_tones(
    keys: str, rate: int, *, tone_ms: int = 100, gap_ms: int = 100, level: float = 0.25
) -> Pcm16:
    """``keys`` as in-band DTMF (ITU-T Q.23): ``gap_ms`` of silence, then each key its row
    and column tones together for ``tone_ms`` followed by ``gap_ms`` of silence (the pause
    before the first key keeps it apart from speech just before); each tone at ``level``
    of full scale (0.25: -12 dBFS, no twist). Q.24 receivers need at least 40 ms of tone
    and of pause. Raises ``ValueError`` for a key outside :data:`KEYS`."""
    if tone_ms < 40 or gap_ms < 40:
        raise ValueError("tone_ms and gap_ms must be at least 40")
    if not keys:
        return np.zeros(0, dtype=np.int16)
    t = np.arange(round(rate * tone_ms / 1000)) / rate
    gap = np.zeros(round(rate * gap_ms / 1000), dtype=np.int16)
    ramp = np.minimum(1.0, np.minimum(t, t[::-1]) * 1000 / 2)  # 2-ms edges: no clicks
    parts: list[Pcm16] = [gap]
    for key in keys.upper():
        row = next((r for r, line in enumerate(KEYPAD) if key in line), None)
        if row is None:
            raise ValueError(f"not a DTMF key: {key!r}")
        column = KEYPAD[row].index(key)
        wave = np.sin(2 * np.pi * TONE_ROWS_HZ[row] * t) + np.sin(
            2 * np.pi * TONE_COLUMNS_HZ[column] * t
        )
        parts += [np.round(wave * ramp * level * 32767).astype(np.int16), gap]
    return np.concatenate(parts)
