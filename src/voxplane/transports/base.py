"""What every transport (SIP/RTP, Twilio websocket, WebRTC, the simulated caller) provides.

A transport hands the pipeline an :class:`AudioSource` (the caller's audio, 20 ms frames,
decoded to PCM) and an :class:`AudioSink` (the agent's audio, 20 ms frames paced by the
pipeline). The sink reports how much of what it accepted has not been played out yet, which
is how the pipeline knows what the caller actually heard when they interrupt.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator

from voxplane.media.frame import AudioFrame


class AudioSource(ABC):
    """The caller's audio. Iteration ends when the caller hangs up."""

    sample_rate: int

    @abstractmethod
    def frames(self) -> AsyncIterator[AudioFrame]:
        """Decoded 20 ms frames, in order, as they arrive."""


class AudioSink(ABC):
    """The agent's audio toward the caller."""

    sample_rate: int

    @abstractmethod
    async def send(self, frame: AudioFrame) -> None:
        """Send one 20 ms frame; called on the pipeline's 20 ms cadence."""

    @abstractmethod
    async def clear(self) -> None:
        """Drop audio buffered downstream (barge-in): the caller must stop hearing it."""

    def buffered_ms(self) -> float:
        """Audio accepted by :meth:`send` but not yet played to the caller."""
        return 0.0


class Transport(ABC):
    """One call's media connection."""

    source: AudioSource
    sink: AudioSink

    @abstractmethod
    async def hang_up(self) -> None:
        """End the call from the agent's side."""

    @abstractmethod
    async def transfer(self, target: str) -> None:
        """Hand the call to ``target`` (a human); the agent leaves the call."""
