"""What a call leaves behind: the transcript, per-turn latency, and how it ended."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Role = Literal["user", "agent"]

EndReason = Literal[
    "caller_hangup",
    "agent_hangup",
    "transfer",
    "silence",
    "max_duration",
    "shutdown",
    "error",
    # an outbound call that never connected
    "no_answer",
    "busy",
    "declined",
    "failed",
]


@dataclass(slots=True)
class TurnRecord:
    """One entry of the transcript. Agent text is what the caller actually heard."""

    role: Role
    text: str
    start_ms: int
    end_ms: int
    interrupted: bool = False


@dataclass(slots=True)
class TurnMetrics:
    """Timestamps of one caller turn and the answer to it, in seconds of loop time.

    ``speech_end`` is the end of the caller's speech as the VAD saw it; every latency is
    measured from there, so voice-to-voice is what the caller experiences on the wire.
    """

    turn: int
    speech_end: float
    endpoint: float | None = None
    """When the end-of-speech silence was confirmed."""
    stt_final: float | None = None
    brain_first_text: float | None = None
    tts_first_audio: float | None = None
    first_frame_out: float | None = None
    speculative_hit: bool = False
    """The transcript came from the speculative STT started when silence began."""

    @staticmethod
    def _ms(later: float | None, earlier: float | None) -> int | None:
        if later is None or earlier is None:
            return None
        return round(1000 * (later - earlier))

    @property
    def endpoint_ms(self) -> int | None:
        return self._ms(self.endpoint, self.speech_end)

    @property
    def stt_ms(self) -> int | None:
        return self._ms(self.stt_final, self.speech_end)

    @property
    def brain_ms(self) -> int | None:
        commit = (
            None
            if self.stt_final is None or self.endpoint is None
            else max(self.stt_final, self.endpoint)
        )
        return self._ms(self.brain_first_text, commit)

    @property
    def tts_ms(self) -> int | None:
        return self._ms(self.tts_first_audio, self.brain_first_text)

    @property
    def voice_to_voice_ms(self) -> int | None:
        return self._ms(self.first_frame_out, self.speech_end)

    @property
    def complete(self) -> bool:
        return self.voice_to_voice_ms is not None


@dataclass(slots=True)
class CallResult:
    """Everything a finished call reports."""

    ended_by: EndReason
    turns: list[TurnRecord] = field(default_factory=list)
    metrics: list[TurnMetrics] = field(default_factory=list)
    transfer_target: str | None = None
    caller_audio_ms: float = 0.0
    stt_audio_ms: float = 0.0
    tts_characters: int = 0
    llm_tokens: int = 0
    """Tokens the brain's model requests used during the call (usage metering)."""
    false_starts: int = 0
    """Answers whose audio had started when the caller went on (they had only paused)."""
    held_turns: int = 0
    """Caller turns the brain found incomplete, so the session waited for more."""
    provider_errors: dict[str, int] = field(default_factory=dict)
    """Provider failures that retries did not cure, by kind (``stt``, ``brain``, ``tts``):
    a caller turn that could not be transcribed, an answer cut short."""
    soft_barge_ins: int = 0
    """Times caller speech over the agent paused (or lowered) it."""
    resumed_after_backchannel: int = 0
    """Of those, the times the caller's words were only a backchannel and the agent went on."""


def result_document(agent: str, result: CallResult) -> dict[str, object]:
    """The call as JSON: the shape of ``voxplane talk --json`` and of the calls API."""
    return {
        "agent": agent,
        "ended_by": result.ended_by,
        "false_starts": result.false_starts,
        "held_turns": result.held_turns,
        "provider_errors": dict(sorted(result.provider_errors.items())),
        "soft_barge_ins": result.soft_barge_ins,
        "resumed_after_backchannel": result.resumed_after_backchannel,
        "turns": [
            {
                "role": t.role,
                "text": t.text,
                "start_ms": t.start_ms,
                "end_ms": t.end_ms,
                "interrupted": t.interrupted,
            }
            for t in result.turns
        ],
        "metrics": [
            {
                "turn": m.turn,
                "stt_ms": m.stt_ms,
                "brain_ms": m.brain_ms,
                "tts_ms": m.tts_ms,
                "voice_to_voice_ms": m.voice_to_voice_ms,
            }
            for m in result.metrics
            if m.complete
        ],
    }
