"""A GGUF model in this process, through ``llama-cpp-python`` (the ``llm`` extra).

The model is loaded once per process and path and shared by every call; one generation
runs at a time on it (llama.cpp contexts are not thread-safe), in a worker thread, its
tokens handed to the event loop as they come. A cancelled request stops at the next token.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any, cast

from voxplane.errors import ConfigError, ProviderError
from voxplane.providers.base import (
    LLM,
    ChatMessage,
    LlmCapabilities,
    LlmEvent,
    LlmOptions,
    TextDelta,
    ToolSpec,
    Usage,
)

CONTEXT_TOKENS = 4096
_END = object()


class LlamaModel:
    """One loaded GGUF file; :meth:`complete` is called from worker threads."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        try:
            from llama_cpp import Llama  # noqa: PLC0415 - optional extra, heavy import
        except ImportError as error:
            raise ConfigError(
                "brain.provider: llama_cpp needs the 'llm' extra (pip install 'voxplane[llm]')"
            ) from error
        if not path.is_file():
            raise ConfigError(f"brain.model: no GGUF file at {path}")
        self.path = path
        self.lock = threading.Lock()
        self._llama = Llama(
            model_path=str(path),
            n_ctx=CONTEXT_TOKENS,
            n_threads=threads or max(1, min(4, os.cpu_count() or 1)),
            verbose=False,
        )

    def close(self) -> None:
        with self.lock:
            self._llama.close()

    def complete(
        self, messages: list[dict[str, Any]], options: LlmOptions
    ) -> Iterator[dict[str, Any]]:
        chunks = self._llama.create_chat_completion(
            messages=messages,  # type: ignore[arg-type]
            temperature=options.temperature,
            max_tokens=options.max_tokens,
            stream=True,
        )
        return cast(Iterator[dict[str, Any]], chunks)


_models: dict[Path, LlamaModel] = {}
_models_lock = threading.Lock()


@atexit.register
def _free_models() -> None:
    """Free the models before the interpreter unloads llama.cpp (else their finalizers
    call into a library already gone and print a traceback at exit)."""
    with _models_lock:
        for model in _models.values():
            model.close()
        _models.clear()


def shared_model(path: Path) -> LlamaModel:
    """The process's model for ``path``, loaded on first use (call off the event loop)."""
    with _models_lock:
        model = _models.get(path)
        if model is None:
            model = _models[path] = LlamaModel(path)
        return model


class LlamaCppLLM(LLM):
    """Chat with an in-process GGUF model. Tools are not offered to it: small local
    models call them unreliably (serve such a model behind an OpenAI-compatible server
    with a tool-calling chat template and use the ``openai`` provider instead)."""

    capabilities = LlmCapabilities(tools=False)

    def __init__(self, model: LlamaModel) -> None:
        self._model = model
        self.name = f"llama_cpp:{model.path.name}"

    async def stream(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec], options: LlmOptions
    ) -> AsyncIterator[LlmEvent]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        stop = threading.Event()
        wire = [{"role": m.role, "content": m.content} for m in messages if m.role != "tool"]

        def produce() -> None:
            try:
                with self._model.lock:
                    prompt = completion = 0
                    for chunk in self._model.complete(wire, options):
                        if stop.is_set():
                            break
                        delta = chunk["choices"][0]["delta"].get("content")
                        if delta:
                            completion += 1
                            loop.call_soon_threadsafe(queue.put_nowait, TextDelta(delta))
                    loop.call_soon_threadsafe(queue.put_nowait, Usage(prompt, completion))
            except Exception as error:
                loop.call_soon_threadsafe(queue.put_nowait, error)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, _END)

        worker = asyncio.ensure_future(asyncio.to_thread(produce))
        try:
            while (item := await queue.get()) is not _END:
                if isinstance(item, Exception):
                    raise ProviderError(f"{self.name}: {item}") from item
                assert isinstance(item, TextDelta | Usage)
                yield item
        finally:
            stop.set()
            await asyncio.shield(worker)
