"""Provider interfaces: one small interface per capability (STT, brain, LLM, TTS).

Each interface carries a capabilities dataclass. Streams are async iterators; the pipeline
consumes them and never knows which adapter sits behind the interface.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from voxplane.media.frame import AudioFrame, Pcm16
from voxplane.providers.turn_end import text_turn_complete

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


@dataclass(frozen=True, slots=True)
class SttResult:
    """A transcript of the caller's speech between two caller-audio times (ms since the
    stream opened). Interim results may still change; a final one will not."""

    text: str
    final: bool
    start_ms: float
    end_ms: float
    audio_ms: float = 0.0
    """Audio the provider transcribed for it (usage metering)."""
    speculative: bool = False
    """A final result the provider had before the turn was flushed (a guess made at a
    pause that turned out to cover the whole turn)."""
    ready_at: float | None = None
    """Loop time the provider delivered the words (for latency metrics); None: when
    :meth:`SttStream.flush` returned them."""


class SttStream(ABC):
    """One call's streaming recognition: the session pushes every 16 kHz frame of caller
    audio, tells the stream where its turn detector heard speech pause and resume, and
    asks for the final transcript of each turn it commits.

    Positions are caller-audio milliseconds since the stream opened (samples pushed).
    Interim and final results are also published on :meth:`results`, for listeners that
    act on words before the turn ends (soft barge-in). Errors from the provider surface as
    :class:`~voxplane.errors.ProviderError` from :meth:`flush`.
    """

    @abstractmethod
    def push(self, samples: Pcm16) -> None:
        """The next caller audio, in order, at 16 kHz. Must not block the event loop."""

    def speech_paused(self, start_ms: float, end_ms: float) -> None:  # noqa: B027 - hook
        """The caller went quiet at ``end_ms``; the utterance so far began at
        ``start_ms``. A provider may start recognizing it now (a guess)."""

    def speech_resumed(self) -> None:  # noqa: B027 - optional hook
        """The caller speaks again: a guess started at the pause is out of date."""

    @abstractmethod
    async def flush(self, start_ms: float, end_ms: float) -> SttResult:
        """The final transcript of the caller's speech from ``start_ms`` to ``end_ms``
        (a committed turn). Cancelling the awaiting task abandons the request."""

    @abstractmethod
    def results(self) -> AsyncIterator[SttResult]:
        """Interim and final results as they come; ends after :meth:`end`."""

    @abstractmethod
    async def end(self) -> None:
        """The call is over: stop every request still running and end :meth:`results`."""

    @property
    def audio_ms(self) -> float:
        """Audio transcribed so far (usage metering)."""
        return 0.0


class StreamingSTT(ABC):
    """Speech to text as a stream per call (push frames, flush, end; interim and final
    results). A batch :class:`STT` is used through
    :class:`voxplane.providers.batch_stream.BatchStreamingSTT`."""

    capabilities: SttCapabilities

    @abstractmethod
    def open(self, hint: Callable[[], SttHint | None]) -> SttStream:
        """A stream for one call; ``hint()`` says what the brain expects to hear now."""


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


@dataclass(frozen=True, slots=True)
class SendDtmf:
    """The brain presses keypad ``keys`` on the line (an IVR on the far side of a transfer
    or an outbound call); the transport sends them after the words before it are spoken."""

    keys: str


BrainEvent = TextChunk | HangUp | Transfer | SendDtmf


@dataclass(frozen=True, slots=True)
class BrainCapabilities:
    streaming: bool
    """True when text arrives in several chunks (an LLM); False for whole replies (a flow)."""


@dataclass(frozen=True, slots=True)
class ToolReport:
    """A tool the brain ran: its name, whether it worked, how long it took. No arguments or
    results: they may hold what the caller said."""

    name: str
    ok: bool
    duration_ms: int


class Brain(ABC):
    """Decides what the agent says. One instance per call (it holds the conversation)."""

    capabilities: BrainCapabilities
    on_tool: Callable[[ToolReport], None] | None = None
    """Told of each tool the brain runs (the runtime turns it into ``tool.called``)."""

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
        """The caller cut the last answer off: only ``heard_text`` of it reached them.

        Called once per cut answer, after the pipeline stopped its audio (for a soft
        barge-in, once the caller's words showed a real interruption, not a backchannel).
        ``heard_text`` is the answer's text up to the audio played, rounded down to whole
        words ("" when none of it played). A brain that keeps a conversation (an LLM)
        replaces its last assistant message with it. The default does nothing."""

    def gathered(self) -> Mapping[str, str]:
        """What the conversation has collected so far (a flow's filled slots), by name;
        post-call analysis reads it once the call ends."""
        return {}

    def checkpoint(self) -> object | None:
        """The conversation state before a turn, so the turn can be taken back.

        The pipeline takes a turn back when the caller turns out to have only paused: their
        next words continue the same turn, which is then answered as a whole. ``None``
        means this brain cannot take turns back (each part is then answered on its own).
        """
        return None

    def rollback(self, checkpoint: object) -> None:  # noqa: B027 - optional hook
        """Return to a state from :meth:`checkpoint`."""

    def turn_complete(self, user_text: str) -> bool:
        """Whether the caller's words so far complete what the brain is waiting for.

        Asked when the end-of-speech silence confirms a turn: an incomplete turn is held,
        still listening, for up to ``turn.incomplete_ms`` of silence, and what the caller
        says next joins it. The default is a text estimate of the end of an utterance
        (a trailing conjunction, filler or unfinished phrase is incomplete).
        """
        return text_turn_complete(user_text)

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """The call is over: release connections (an LLM brain's HTTP clients)."""

    def llm_tokens(self) -> int:
        """Tokens this call's model requests used so far (usage metering); 0 for a brain
        without a model."""
        return 0

    def on_dtmf(self, key: str) -> str | None:
        """A keypad key the caller pressed (``"0"``-``"9"``, ``"*"``, ``"#"``, ``"A"``-``"D"``).

        Returns the caller's keypad entry once it is complete, as the text the pipeline
        then answers through :meth:`respond` like a spoken turn (a digits gather ends on
        ``#`` or its expected length; a menu takes one key); ``None`` while the entry is
        incomplete, or when this brain takes no keys (the default).
        """
        return None


# --- large language model ---------------------------------------------------------------

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """The model asks for tool ``name`` with ``arguments`` (JSON text, as the model wrote
    it: the caller parses and validates it)."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of a conversation. ``tool_calls`` on assistant messages; ``tool_call_id``
    on tool results."""

    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function the model may call: its name, what it does, its JSON-schema parameters."""

    name: str
    description: str
    parameters: dict[str, object]


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the model's text, as it streams."""

    text: str


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens one request used, as the provider counts them."""

    prompt_tokens: int
    completion_tokens: int


LlmEvent = TextDelta | ToolCall | Usage
"""What :meth:`LLM.stream` yields: text deltas, then (after the text) whole tool calls and
the request's usage, each at most once per call id."""


@dataclass(frozen=True, slots=True)
class LlmOptions:
    temperature: float = 0.3
    max_tokens: int = 200


@dataclass(frozen=True, slots=True)
class LlmCapabilities:
    tools: bool
    """True when the model takes :class:`ToolSpec` and returns :class:`ToolCall`."""


class LLM(ABC):
    """A chat model. Stateless: every request carries the whole conversation. Failures
    raise :class:`~voxplane.errors.ProviderError` (``retryable`` when a retry may help)."""

    capabilities: LlmCapabilities
    name: str
    """``provider:model``, for logs and call records."""

    @abstractmethod
    def stream(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolSpec],
        options: LlmOptions,
    ) -> AsyncIterator[LlmEvent]:
        """One completion, streamed. Must not block the event loop."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the LLM is not used after this."""


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

        Must not block the event loop. Closing the stream early (a barge-in) stops the
        synthesis.
        """

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """The call is over: release connections (a websocket kept for the call)."""
