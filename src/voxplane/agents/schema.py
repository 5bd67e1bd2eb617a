"""The agent document: what a tenant writes (YAML file today, API body later).

Sections: ``stt``, ``tts``, ``brain``, ``turn`` and ``call``. Unknown fields are errors, so a
typo never silently falls back to a default.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from voxplane.agents.flow import FlowConfig


class Strict(BaseModel):
    """Base for every section: unknown fields are rejected, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SttConfig(Strict):
    provider: Literal["whisper"] = "whisper"
    model: Literal["tiny.en"] = "tiny.en"
    language: str = "en"
    use_hints: bool = True
    """Bias transcription toward what the brain expects (digits, yes/no, names)."""


class TtsConfig(Strict):
    provider: Literal["piper"] = "piper"
    voice: Literal["joe"] = "joe"
    speed: float = Field(1.0, ge=0.5, le=2.0)
    loudness_dbfs: float = Field(-20.0, ge=-40.0, le=-6.0)
    """Every sentence is brought to this RMS level, so loudness does not jump between them."""


class BargeInConfig(Strict):
    enabled: bool = True
    min_speech_ms: int = Field(500, ge=100, le=3000)
    """Caller speech over the agent that lasts this long interrupts it."""


class TurnConfig(Strict):
    vad: Literal["silero", "energy"] = "silero"
    vad_threshold: float = Field(0.5, gt=0.0, lt=1.0)
    min_speech_ms: int = Field(120, ge=20, le=2000)
    """Shorter blips of sound are not speech (clicks, breaths)."""
    end_of_speech_ms: int = Field(300, ge=100, le=3000)
    """Silence that ends the caller's turn."""
    max_turn_ms: int = Field(20_000, ge=1000, le=120_000)
    """A turn this long is cut and answered (someone who never pauses, or line noise)."""
    speculative_stt: bool = True
    """Transcribe as soon as silence begins; commit when the end-of-speech silence confirms."""
    continuation_ms: int = Field(1200, ge=0, le=5000)
    """A caller who speaks again before this much of the agent's answer has played only
    paused: the answer is dropped and both parts are answered as one turn. 0 disables."""
    barge_in: BargeInConfig = BargeInConfig()
    backchannels: tuple[str, ...] = (
        "mhm",
        "mm hmm",
        "uh huh",
        "okay",
        "ok",
        "yeah",
        "right",
        "sure",
        "i see",
        "got it",
    )
    """Short caller sounds that acknowledge the agent and never interrupt it."""


class CallConfig(Strict):
    first_message: str | None = None
    """Said when the call connects; without it the brain's greeting is said."""
    silence_timeout_ms: int = Field(7000, ge=1000, le=120_000)
    """After the agent finishes and the caller says nothing for this long, reprompt."""
    silence_reprompt: str = "Are you still there?"
    max_silence_reprompts: int = Field(2, ge=0, le=10)
    """After this many reprompts in a row go unanswered, say goodbye and hang up."""
    silence_goodbye: str = "I haven't heard anything, so I'll hang up now. Goodbye."
    max_duration_s: int = Field(900, ge=10, le=4 * 3600)
    max_duration_message: str = "We've reached the time limit for this call. Goodbye."


class AgentConfig(Strict):
    """One agent: how it listens, thinks and speaks."""

    name: str = Field(min_length=1, max_length=100)
    description: str = ""
    stt: SttConfig = SttConfig()
    tts: TtsConfig = TtsConfig()
    brain: FlowConfig
    turn: TurnConfig = TurnConfig()
    call: CallConfig = CallConfig()
