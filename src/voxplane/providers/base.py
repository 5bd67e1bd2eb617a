"""Provider interfaces: one small interface per capability (STT, brain, TTS).

Each interface carries a capabilities dataclass. Streams are async iterators; the pipeline
consumes them and never knows which adapter sits behind the interface.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

from voxplane.media.frame import AudioFrame, Pcm16

HintKind = Literal["digits", "yes_no", "name", "date", "time", "free_text", "choice"]


@dataclass(frozen=True, slots=True)
class SttHint:
    """What the brain expects to hear next, so the STT can be biased toward it.

    ``prompt`` is example text in the expected form (Whisper's initial prompt);
    ``phrases`` are words or names worth boosting (hotwords / keyword boosting).
    """

    kind: HintKind
    prompt: str = ""
    phrases: tuple[str, ...] = ()


# --- speech to text ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SttCapabilities:
    streaming: bool
    """True when the provider returns partial results while audio is still being pushed."""
    hints: bool
    """True when the provider uses :class:`SttHint`."""


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    audio_ms: float
    """How much audio was transcribed (for usage metering)."""


class STT(ABC):
    """Speech to text. ``recognize`` transcribes one utterance of 16 kHz PCM."""

    capabilities: SttCapabilities
    sample_rate: int = 16_000

    @abstractmethod
    async def recognize(self, samples: Pcm16, hint: SttHint | None = None) -> Transcript:
        """Transcribe one utterance. Must not block the event loop."""

    def can_start_now(self) -> bool:
        """True when a request made now would start at once rather than queue.

        The pipeline transcribes speculatively only then: a guess must never delay real
        work, and under load every guess would (local models share a few threads).
        """
        return True


# --- brain --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextChunk:
    """A piece of the agent's answer; the pipeline cuts chunks into sentences."""

    text: str


@dataclass(frozen=True, slots=True)
class HangUp:
    """The brain ends the call after its words have been spoken."""

    reason: str = "agent_hangup"


@dataclass(frozen=True, slots=True)
class Transfer:
    """The brain asks for the call to be handed to a human at ``target``."""

    target: str


BrainEvent = TextChunk | HangUp | Transfer


@dataclass(frozen=True, slots=True)
class BrainCapabilities:
    streaming: bool
    """True when text arrives in several chunks (an LLM); False for whole replies (a flow)."""


class Brain(ABC):
    """Decides what the agent says. One instance per call (it holds the conversation)."""

    capabilities: BrainCapabilities

    @abstractmethod
    def greet(self) -> AsyncIterator[BrainEvent]:
        """The agent's opening words when the call connects."""

    @abstractmethod
    def respond(self, user_text: str) -> AsyncIterator[BrainEvent]:
        """The agent's answer to one caller turn."""

    @abstractmethod
    def stt_hint(self) -> SttHint | None:
        """What the brain expects to hear next, if anything in particular."""

    def on_interrupted(self, heard_text: str) -> None:  # noqa: B027 - optional hook
        """The caller barged in; only ``heard_text`` of the last answer reached them."""

    def checkpoint(self) -> object | None:
        """The conversation state before a turn, so the turn can be taken back.

        The pipeline takes a turn back when the caller turns out to have only paused: their
        next words continue the same turn, which is then answered as a whole. ``None``
        means this brain cannot take turns back (each part is then answered on its own).
        """
        return None

    def rollback(self, checkpoint: object) -> None:  # noqa: B027 - optional hook
        """Return to a state from :meth:`checkpoint`."""


# --- text to speech -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TtsCapabilities:
    streaming: bool
    """True when audio for one text arrives in several chunks."""
    sample_rate: int


class TTS(ABC):
    """Text to speech."""

    capabilities: TtsCapabilities

    @abstractmethod
    def synthesize(self, text: str) -> AsyncIterator[AudioFrame]:
        """Audio for ``text``, streamed in chunks at ``capabilities.sample_rate``.

        Must not block the event loop.
        """
