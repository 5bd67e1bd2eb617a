"""Compose a call on the local, offline stack: Whisper, the flow brain, Piper, Silero."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from voxplane.agents.schema import AgentConfig
from voxplane.media.vad import EnergyVad, SileroModel, SileroVad, Vad
from voxplane.pipeline.records import CallResult, TurnRecord
from voxplane.pipeline.session import CallParts, CallSession
from voxplane.providers.cache import CachedTTS, TtsCache
from voxplane.providers.flow.brain import FlowBrain
from voxplane.providers.piper import PiperEngine, PiperOptions, PiperTTS
from voxplane.providers.piper import shared_engine as shared_piper
from voxplane.providers.whisper import WhisperEngine, WhisperOptions, WhisperSTT
from voxplane.providers.whisper import shared_engine as shared_whisper
from voxplane.transports.base import Transport


@dataclass(frozen=True, slots=True)
class LocalModels:
    """The process-wide models every call shares."""

    whisper: WhisperEngine
    piper: PiperEngine
    silero: SileroModel
    tts_cache: TtsCache

    @classmethod
    def load(
        cls, whisper: WhisperOptions | None = None, piper: PiperOptions | None = None
    ) -> LocalModels:
        return cls(
            shared_whisper(whisper or WhisperOptions()),
            shared_piper(piper or PiperOptions()),
            SileroModel(),
            TtsCache(),
        )


def make_vad(agent: AgentConfig, models: LocalModels) -> Vad:
    return SileroVad(models.silero) if agent.turn.vad == "silero" else EnergyVad()


def build_parts(agent: AgentConfig, models: LocalModels) -> CallParts:
    """Fresh per-call providers (the brain and VAD hold call state) on shared models."""
    return CallParts(
        stt=WhisperSTT(models.whisper, agent.stt.language),
        brain=FlowBrain(agent.brain, agent.call.first_message),
        tts=CachedTTS(
            PiperTTS(models.piper, agent.tts.speed, agent.tts.loudness_dbfs),
            models.tts_cache,
            voice=f"piper:{agent.tts.voice}:{agent.tts.speed}:{agent.tts.loudness_dbfs}",
        ),
        vad=make_vad(agent, models),
        use_stt_hints=agent.stt.use_hints,
    )


async def run_call(
    agent: AgentConfig,
    models: LocalModels,
    transport: Transport,
    on_turn: Callable[[TurnRecord], None] | None = None,
) -> CallResult:
    """Run one call of ``agent`` over ``transport`` to its end."""
    parts = build_parts(agent, models)
    session = CallSession(parts, transport, agent.turn, agent.call, on_turn)
    return await session.run()
