"""What every transport (SIP/RTP, Twilio websocket, WebRTC, the simulated caller) provides.

A transport is one call's connection. It hands the pipeline:

- :attr:`Transport.info` — who called whom over what (:class:`CallInfo`);
- an :class:`AudioSource` — the caller's audio, 20 ms frames decoded to PCM;
- an :class:`AudioSink` — the agent's audio, 20 ms frames paced by the pipeline. The sink
  reports how much of what it accepted has not been played out yet (how the pipeline knows
  what the caller actually heard when they interrupt) and lets the pipeline wait until it
  has all been played (:meth:`AudioSink.wait_for_playout`);
- :meth:`Transport.events` — everything else the caller's side does: keypad keys
  (:class:`Dtmf`) and hanging up (:class:`RemoteHangup`).

The agent's side acts through :meth:`Transport.hang_up`, :meth:`Transport.transfer` and
:meth:`Transport.send_dtmf`. Whoever opened the transport calls :meth:`Transport.aclose`
once the call is over (the runtime does, in a ``finally``); the pipeline never does.

Lifetime: the call is over for the pipeline when the source's frames end, when
:meth:`events` yields :class:`RemoteHangup`, or when the agent hangs up or transfers.
A transport must end both :meth:`AudioSource.frames` and :meth:`events` once the remote
side is gone, so nothing waits forever on a dead line.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

from voxplane.media.frame import AudioFrame

TransportKind = Literal["sip", "twilio", "telnyx", "webrtc", "simulated"]
Direction = Literal["inbound", "outbound"]

DTMF_KEYS = frozenset("0123456789*#ABCD")
"""The sixteen keys of RFC 4733 (events 0-15); A-D exist on some keypads only."""


@dataclass(frozen=True, slots=True)
class CallInfo:
    """Who called whom, over what. Numbers are as the transport received them (E.164 when
    the carrier sends E.164); the runtime normalizes before routing."""

    call_id: str
    """The transport's own id for the call: SIP Call-ID, Twilio CallSid, Telnyx call id."""
    transport: TransportKind
    direction: Direction = "inbound"
    from_number: str | None = None
    to_number: str | None = None


@dataclass(frozen=True, slots=True)
class Dtmf:
    """One keypad key the caller pressed: ``"0"``-``"9"``, ``"*"``, ``"#"``, ``"A"``-``"D"``."""

    key: str
    duration_ms: int = 0

    def __post_init__(self) -> None:
        if self.key not in DTMF_KEYS:
            raise ValueError(f"not a DTMF key: {self.key!r}")


@dataclass(frozen=True, slots=True)
class RemoteHangup:
    """The caller's side ended the call (SIP BYE, Twilio ``stop``, a closed websocket)."""

    reason: str = "caller_hangup"


CallEvent = Dtmf | RemoteHangup


class AudioSource(ABC):
    """The caller's audio. Iteration ends when the caller hangs up."""

    sample_rate: int

    @abstractmethod
    def frames(self) -> AsyncIterator[AudioFrame]:
        """Decoded 20 ms frames, in order, as they arrive."""


CLOCKED_SINK_LEAD_MS = 60.0
"""The lead of sinks that play on their own 20 ms clock: three frames."""


class AudioSink(ABC):
    """The agent's audio toward the caller."""

    sample_rate: int

    lead_ms: float = 0.0
    """How far ahead of its 20 ms cadence the pipeline keeps this sink supplied. A sink
    that plays on its own clock (an RTP pacer, a WebRTC track, a carrier's buffer) holds
    this much so that a late wake-up of the pipeline is not silence inside a word; 0 for
    sinks that play each frame the moment it is sent."""

    @abstractmethod
    async def send(self, frame: AudioFrame) -> None:
        """Send one 20 ms frame; called on the pipeline's 20 ms cadence, :attr:`lead_ms`
        ahead of it."""

    @abstractmethod
    async def clear(self) -> None:
        """Drop audio buffered downstream (barge-in): the caller must stop hearing it.

        Afterwards :meth:`buffered_ms` is 0 and :meth:`wait_for_playout` returns at once."""

    def buffered_ms(self) -> float:
        """Audio accepted by :meth:`send` but not yet played to the caller.

        Exact for transports with playout confirmation (Twilio marks); an estimate from
        the send clock otherwise; 0 for sinks that play what they are given at once."""
        return 0.0

    @abstractmethod
    async def wait_for_playout(self) -> None:
        """Return once everything sent so far has been played to the caller (or cleared,
        or the call has ended). The pipeline bounds the wait by :meth:`buffered_ms` plus a
        margin, so a peer that never confirms cannot stall the call."""


class Transport(ABC):
    """One call's media connection and call control."""

    info: CallInfo
    source: AudioSource
    sink: AudioSink
    keys_in_band = False
    """True: the line carries only audio (a carrier's media stream), so :meth:`send_dtmf`
    cannot press keys and the speaker plays them as tones among the agent's audio."""

    @abstractmethod
    def events(self) -> AsyncIterator[CallEvent]:
        """The caller side's events besides audio, in order; ends when the call ends.

        A transport yields :class:`RemoteHangup` once when the remote side goes away
        (then ends the iteration); keys arrive as :class:`Dtmf`, one per key press."""

    @abstractmethod
    async def hang_up(self) -> None:
        """End the call from the agent's side (after the agent's last words have played)."""

    @abstractmethod
    async def transfer(self, target: str) -> None:
        """Hand the call to ``target`` (a human, E.164 or a SIP URI); the agent leaves.

        The pipeline refuses emergency targets before it calls this."""

    @abstractmethod
    async def send_dtmf(self, keys: str) -> None:
        """Send keypad ``keys`` toward the caller's side (RFC 4733 on SIP), e.g. to steer
        an IVR the agent called. Raises ``ValueError`` for a key outside :data:`DTMF_KEYS`."""

    @abstractmethod
    async def aclose(self) -> None:
        """Release the connection's resources (sockets, tasks); idempotent. Called by the
        transport's owner once the call is over, whatever ended it."""
