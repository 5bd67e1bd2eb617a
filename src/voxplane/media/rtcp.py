"""RTCP sender/receiver reports (RFC 3550 §6.4) and the receiver statistics behind them.

Pure: :class:`ReceiverStats` is fed each received RTP packet with its arrival time ``now``
(seconds, any monotonic origin) and produces the report block of Appendix A.3 (loss) and
A.8 (interarrival jitter); the sequence bookkeeping follows Appendix A.1. Compound packets
are parsed into SR, RR, SDES (CNAME only is interpreted), BYE, and :class:`RtcpOther`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from voxplane.errors import ProtocolError
from voxplane.media.rtp import RTP_VERSION, seq_delta

SR, RR, SDES, BYE = 200, 201, 202, 203
_BLOCK = struct.Struct("!IB3sIIII")
_NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01
MAX_DROPOUT = 3000
MAX_MISORDER = 100
MIN_SEQUENTIAL = 2


def ntp_timestamp(unix_seconds: float) -> int:
    """The 64-bit NTP timestamp of a wall-clock time (the caller reads the clock)."""
    return round((unix_seconds + _NTP_EPOCH_OFFSET) * (1 << 32)) & 0xFFFF_FFFF_FFFF_FFFF


def ntp_middle(ntp: int) -> int:
    """The middle 32 bits of an NTP timestamp, as carried in LSR."""
    return (ntp >> 16) & 0xFFFF_FFFF


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """One reception report block (RFC 3550 §6.4.1)."""

    ssrc: int
    fraction_lost: int
    cumulative_lost: int
    highest_seq: int
    jitter: int
    lsr: int = 0
    dlsr: int = 0

    def encode(self) -> bytes:
        lost = max(-(1 << 23), min(self.cumulative_lost, (1 << 23) - 1)) & 0xFF_FFFF
        return _BLOCK.pack(
            self.ssrc, self.fraction_lost, lost.to_bytes(3, "big"),
            self.highest_seq & 0xFFFF_FFFF, self.jitter & 0xFFFF_FFFF, self.lsr, self.dlsr,
        )  # fmt: skip

    @classmethod
    def parse(cls, data: bytes, offset: int) -> ReportBlock:
        ssrc, fraction, lost, highest, jitter, lsr, dlsr = _BLOCK.unpack_from(data, offset)
        cumulative = int.from_bytes(lost, "big", signed=True)
        return cls(ssrc, fraction, cumulative, highest, jitter, lsr, dlsr)


@dataclass(frozen=True, slots=True)
class SenderReport:
    """SR: our sending counters plus reports on the streams we receive."""

    ssrc: int
    ntp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: tuple[ReportBlock, ...] = ()


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    """RR: reports on the streams we receive, from a participant that is not sending."""

    ssrc: int
    reports: tuple[ReportBlock, ...] = ()


@dataclass(frozen=True, slots=True)
class SourceDescription:
    """SDES with the CNAME of one source (other items are dropped)."""

    ssrc: int
    cname: str


@dataclass(frozen=True, slots=True)
class Goodbye:
    """BYE: these sources leave the session."""

    ssrcs: tuple[int, ...]
    reason: str = ""


@dataclass(frozen=True, slots=True)
class RtcpOther:
    """Any other RTCP packet (APP, XR, feedback…), kept as its type and body."""

    packet_type: int
    count: int
    body: bytes


RtcpPacket = SenderReport | ReceiverReport | SourceDescription | Goodbye | RtcpOther


def _header(packet_type: int, count: int, body: bytes) -> bytes:
    body += bytes(-len(body) % 4)
    return struct.pack("!BBH", RTP_VERSION << 6 | count, packet_type, len(body) // 4) + body


def encode_rtcp(packets: list[RtcpPacket]) -> bytes:
    """A compound packet (RFC 3550 §6.1: start with SR or RR, include SDES CNAME)."""
    out = []
    for p in packets:
        match p:
            case SenderReport():
                head = struct.pack(
                    "!IQIII", p.ssrc, p.ntp, p.rtp_timestamp & 0xFFFF_FFFF,
                    p.packet_count & 0xFFFF_FFFF, p.octet_count & 0xFFFF_FFFF,
                )  # fmt: skip
                blocks = b"".join(b.encode() for b in p.reports[:31])
                out.append(_header(SR, len(p.reports[:31]), head + blocks))
            case ReceiverReport():
                blocks = b"".join(b.encode() for b in p.reports[:31])
                out.append(_header(RR, len(p.reports[:31]), struct.pack("!I", p.ssrc) + blocks))
            case SourceDescription():
                cname = p.cname.encode()[:255]
                item = struct.pack("!IBB", p.ssrc, 1, len(cname)) + cname + b"\0"
                out.append(_header(SDES, 1, item))
            case Goodbye():
                reason = p.reason.encode()[:255]
                body = b"".join(struct.pack("!I", s) for s in p.ssrcs[:31])
                body += bytes([len(reason)]) + reason if reason else b""
                out.append(_header(BYE, len(p.ssrcs[:31]), body))
            case RtcpOther():
                out.append(_header(p.packet_type, p.count & 0x1F, p.body))
    return b"".join(out)


def parse_rtcp(data: bytes) -> list[RtcpPacket]:
    """Parse a compound RTCP packet; malformed input raises ``ProtocolError``."""
    packets: list[RtcpPacket] = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < 4:
            raise ProtocolError("RTCP header truncated")
        first, packet_type, words = struct.unpack_from("!BBH", data, offset)
        end = offset + 4 + 4 * words
        if first >> 6 != RTP_VERSION or end > len(data):
            raise ProtocolError("bad RTCP header")
        body = data[offset + 4 : end]
        if first & 0x20 and body:
            body = body[: max(0, len(body) - body[-1])]
        packets.append(_parse_one(packet_type, first & 0x1F, body))
        offset = end
    if not packets:
        raise ProtocolError("empty RTCP packet")
    return packets


def _blocks(body: bytes, offset: int, count: int) -> tuple[ReportBlock, ...]:
    if offset + 24 * count > len(body):
        raise ProtocolError("RTCP report blocks truncated")
    return tuple(ReportBlock.parse(body, offset + 24 * i) for i in range(count))


def _parse_one(packet_type: int, count: int, body: bytes) -> RtcpPacket:
    if packet_type == SR:
        if len(body) < 24:
            raise ProtocolError("RTCP SR truncated")
        ssrc, ntp, rtp_ts, packets, octets = struct.unpack_from("!IQIII", body)
        return SenderReport(ssrc, ntp, rtp_ts, packets, octets, _blocks(body, 24, count))
    if packet_type == RR:
        if len(body) < 4:
            raise ProtocolError("RTCP RR truncated")
        return ReceiverReport(struct.unpack_from("!I", body)[0], _blocks(body, 4, count))
    if packet_type == SDES and count >= 1 and len(body) >= 6:
        ssrc, item, length = struct.unpack_from("!IBB", body)
        if item == 1 and 6 + length <= len(body):
            return SourceDescription(ssrc, body[6 : 6 + length].decode("utf-8", "replace"))
    if packet_type == BYE:
        if 4 * count > len(body):
            raise ProtocolError("RTCP BYE truncated")
        ssrcs = struct.unpack_from(f"!{count}I", body)
        rest = body[4 * count :]
        reason = rest[1 : 1 + rest[0]].decode("utf-8", "replace") if rest else ""
        return Goodbye(tuple(ssrcs), reason)
    return RtcpOther(packet_type, count, body)


@dataclass(slots=True)
class ReceiverStats:
    """Reception statistics of one source (RFC 3550 A.1, A.3, A.8)."""

    ssrc: int
    clock_rate: int = 8000
    max_seq: int = 0
    cycles: int = 0
    base_seq: int = 0
    bad_seq: int = -1
    probation: int = MIN_SEQUENTIAL
    received: int = 0
    expected_prior: int = 0
    received_prior: int = 0
    jitter: float = 0.0
    _transit: float | None = None
    _last_sr: tuple[int, float] | None = None
    _started: bool = False

    def on_packet(self, sequence: int, timestamp: int, now: float) -> bool:
        """Account one RTP packet (A.1, A.8).

        False while the source is on probation or after a sequence jump: such a packet is
        not counted, but the caller may still play it.
        """
        if not self._started:
            self._started = True
            self._init(sequence)
            self.max_seq = (sequence - 1) & 0xFFFF
        if not self._update_seq(sequence):
            return False
        transit = now * self.clock_rate - timestamp
        if self._transit is not None:
            d = abs(transit - self._transit)
            self.jitter += (d - self.jitter) / 16
        self._transit = transit
        return True

    def on_sender_report(self, report: SenderReport, now: float) -> None:
        """Remember the sender's last SR for the LSR/DLSR fields of our next report."""
        self._last_sr = (ntp_middle(report.ntp), now)

    @property
    def extended_max(self) -> int:
        return self.cycles + self.max_seq

    @property
    def expected(self) -> int:
        return self.extended_max - self.base_seq + 1

    def report(self, now: float) -> ReportBlock:
        """The report block for this source; moves the 'prior' interval marks (A.3)."""
        lost = self.expected - self.received
        expected_interval = self.expected - self.expected_prior
        lost_interval = expected_interval - (self.received - self.received_prior)
        self.expected_prior, self.received_prior = self.expected, self.received
        fraction = 0
        if expected_interval > 0 and lost_interval > 0:
            fraction = (lost_interval << 8) // expected_interval
        lsr = dlsr = 0
        if self._last_sr is not None:
            lsr = self._last_sr[0]
            dlsr = min(int((now - self._last_sr[1]) * 65536), 0xFFFF_FFFF)
        return ReportBlock(
            self.ssrc, min(fraction, 255), lost, self.extended_max, int(self.jitter), lsr, dlsr
        )

    def _init(self, seq: int) -> None:
        self.base_seq = seq
        self.max_seq = seq
        self.bad_seq = -1
        self.cycles = 0
        self.received = 0
        self.received_prior = 0
        self.expected_prior = 0

    def _update_seq(self, seq: int) -> bool:
        """RFC 3550 A.1 ``update_seq``."""
        if self.probation:
            if seq == (self.max_seq + 1) & 0xFFFF:
                self.probation -= 1
                self.max_seq = seq
                if self.probation == 0:
                    self._init(seq)
                    self.received += 1
                    return True
            else:
                self.probation = MIN_SEQUENTIAL - 1
                self.max_seq = seq
            return False
        delta = seq_delta(seq, self.max_seq)
        if 0 <= delta < MAX_DROPOUT:
            if seq < self.max_seq:
                self.cycles += 1 << 16
            self.max_seq = seq
        elif delta >= MAX_DROPOUT or delta <= -MAX_MISORDER:
            if seq == self.bad_seq:
                self._init(seq)  # two sequential packets: the source restarted
            else:
                self.bad_seq = (seq + 1) & 0xFFFF
                return False
        self.received += 1
        return True
