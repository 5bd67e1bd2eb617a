"""The agent document: what a tenant writes (YAML file today, API body later).

Sections: ``stt``, ``tts``, ``brain``, ``turn`` and ``call``. Unknown fields are errors, so a
typo never silently falls back to a default.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from voxplane.agents.flow import FlowConfig
from voxplane.agents.llm import LlmBrainConfig
from voxplane.agents.speech import Strict, SttConfig, TtsConfig


class ScriptedBrainConfig(Strict):
    """The ``brain:`` section for ``type: scripted``, a benchmarking aid: a fixed greeting,
    the same reply to every caller turn, no understanding at all."""

    type: Literal["scripted"]
    greeting: str = "Hello, how can I help?"
    reply: str = Field(min_length=1)
    hang_up_after: int | None = Field(None, ge=1)
    """Hang up after this many replies; never without it."""


class BargeInConfig(Strict):
    enabled: bool = True
    min_speech_ms: int = Field(500, ge=100, le=3000)
    """Caller speech over the agent that lasts this long interrupts it (``hard``) or
    softens it (``soft``)."""
    mode: Literal["soft", "hard"] = "soft"
    """``soft``: the agent is paused (or lowered, see ``soften``) and cut only once the
    caller's words show a real interruption; after a backchannel ("mhm", "okay", "uh huh,
    right"), of any length, it goes on. ``hard``: the agent is cut at ``min_speech_ms``."""
    soften: Literal["pause", "duck"] = "pause"
    """What a soft barge-in does to the agent's audio: pause it (it goes on from the same
    word), or play it ``duck_db`` lower."""
    duck_db: float = Field(-15.0, ge=-40.0, le=0.0)
    max_pause_ms: int = Field(1000, ge=0, le=10_000)
    """A paused agent goes on when the caller's turn has ended this long ago and its words
    are still being recognized (a slow recognizer must not leave dead air); if they then
    show a real interruption, the agent is cut then. 0: wait for the words."""


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
    incomplete_ms: int = Field(1200, ge=0, le=5000)
    """A turn the brain finds incomplete ("four two", "I'd like to") is not answered at
    ``end_of_speech_ms``: the session keeps listening until this much silence, and words
    said before then join the turn. 0 (or no more than ``end_of_speech_ms``) disables."""
    barge_in: BargeInConfig = BargeInConfig()
    backchannels: tuple[str, ...] = (
        "mhm",
        "mm hmm",
        "mm",
        "uh huh",
        "uh",  # Whisper often writes "uh huh" as "Uh,"
        "okay",
        "ok",
        "yeah",
        "right",
        "alright",
        "all right",
        "sure",
        "i see",
        "got it",
    )
    """Short caller sounds that acknowledge the agent and never interrupt it (up to four
    words, all from this list: "uh huh, right", "okay okay")."""


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
    record: bool = True
    """Keep a stereo recording of each call (caller left, agent right), for the tenant's
    retention period; ``false`` keeps none."""


FieldType = Literal["string", "integer", "number", "boolean"]


class AnalysisField(Strict):
    """One structured field of the post-call analysis (a JSON-schema property)."""

    type: FieldType = "string"
    description: str = Field("", max_length=500)


class AnalysisFields(Strict):
    """The structured fields to work out after each call, as a JSON schema object."""

    type: Literal["object"] = "object"
    properties: dict[str, AnalysisField] = Field(min_length=1, max_length=50)
    required: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _required_are_properties(self) -> AnalysisFields:
        unknown = [name for name in self.required if name not in self.properties]
        if unknown:
            raise ValueError(f"required names no property: {', '.join(unknown)}")
        return self


class AnalysisConfig(Strict):
    """Post-call analysis: what the platform works out once a call ends, stores with the
    call and sends as ``call.analyzed``. A flow agent fills ``fields`` from the slots it
    gathered, and its call succeeds when every required field was gathered; an agent with
    an LLM has the model write the summary, judge ``success_criteria`` and extract the
    fields."""

    fields: AnalysisFields | None = None
    success_criteria: str | None = Field(None, max_length=2000)
    summary: bool = False


class AgentConfig(Strict):
    """One agent: how it listens, thinks and speaks."""

    name: str = Field(min_length=1, max_length=100)
    description: str = ""
    stt: SttConfig = SttConfig()
    tts: TtsConfig = TtsConfig()
    brain: FlowConfig | LlmBrainConfig | ScriptedBrainConfig = Field(discriminator="type")
    turn: TurnConfig = TurnConfig()
    call: CallConfig = CallConfig()
    analysis: AnalysisConfig | None = None
