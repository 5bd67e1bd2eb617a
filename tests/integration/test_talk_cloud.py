"""``voxplane talk`` with cloud speech: the real command, its key taken from the
environment, talking to an OpenAI-compatible speech server on loopback (uvicorn), whose
speech-to-text endpoint fails first so that the call runs on the fallback provider."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from voxplane.cli.main import main
from voxplane.media.wav import encode_wav

KEY = "sk-loopback-7d1e"


class SpeechServer:
    """OpenAI's /audio/transcriptions and /audio/speech on loopback. ``/down/v1`` answers
    500 to everything (the primary that is down), ``/v1`` works."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        app = Starlette(
            routes=[
                Route("/v1/audio/transcriptions", self.transcribe, methods=["POST"]),
                Route("/v1/audio/speech", self.speak, methods=["POST"]),
                Route("/down/v1/{rest:path}", self.down, methods=["POST"]),
            ]
        )
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "the speech server did not start"
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)

    async def transcribe(self, request: Request) -> Response:
        self.requests.append(("transcribe", request.headers.get("authorization", "")))
        body = await request.body()
        assert b"RIFF" in body and b'name="model"' in body
        return JSONResponse({"text": "I'd like to book a cleaning."})

    async def speak(self, request: Request) -> Response:
        self.requests.append(("speak", request.headers.get("authorization", "")))
        words = len((await request.json())["input"].split())

        async def pcm() -> AsyncIterator[bytes]:
            t = np.arange(24_000 * words // 5) / 24_000  # 200 ms a word at 24 kHz
            audio = (np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2").tobytes()
            for start in range(0, len(audio), 4801):  # odd sizes: samples split across chunks
                yield audio[start : start + 4801]

        return StreamingResponse(pcm(), media_type="audio/pcm")

    async def down(self, request: Request) -> Response:
        self.requests.append(("down", request.url.path))
        error = {"error": {"message": "The server had an error", "type": "server_error"}}
        return JSONResponse(error, status_code=500)


@pytest.fixture
def speech_server() -> Iterator[tuple[SpeechServer, str]]:
    server = SpeechServer()
    with server as url:
        yield server, url


def _caller_wav(path: Path) -> Path:
    t = np.arange(16_000) / 16_000
    speech = (np.sin(2 * np.pi * 300 * t) * 0.3 * 32767).astype(np.int16)
    path.write_bytes(encode_wav(np.concatenate([speech, np.zeros(8000, np.int16)]), 16_000))
    return path


def test_talk_runs_on_cloud_speech_and_falls_back_when_the_primary_is_down(
    tmp_path: Path,
    speech_server: tuple[SpeechServer, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, url = speech_server
    monkeypatch.setenv("VOXPLANE_TEST_OPENAI_KEY", KEY)
    agent = tmp_path / "agent.yaml"
    agent.write_text(
        f"""
name: cloud-receptionist
stt:
  provider: openai
  base_url: {url}/down/v1
  api_key_env: VOXPLANE_TEST_OPENAI_KEY
  fallback:
    - {{provider: openai, base_url: {url}/v1, api_key_env: VOXPLANE_TEST_OPENAI_KEY}}
tts:
  provider: openai
  base_url: {url}/v1
  api_key_env: VOXPLANE_TEST_OPENAI_KEY
turn: {{vad: energy}}
brain: {{type: scripted, greeting: Hello there., reply: Sure thing. Goodbye., hang_up_after: 1}}
"""
    )
    result = tmp_path / "call.json"
    code = main(
        ["talk", "--agent", str(agent), "--input", str(_caller_wav(tmp_path / "in.wav")),
         "--json", str(result)]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    document = json.loads(result.read_text())
    texts = [(t["role"], t["text"]) for t in document["turns"]]
    assert texts == [
        ("agent", "Hello there."),
        ("user", "I'd like to book a cleaning."),
        ("agent", "Sure thing. Goodbye."),
    ]
    kinds = [kind for kind, _ in server.requests]
    assert kinds.count("down") >= 1 and kinds.count("transcribe") >= 1
    assert kinds.count("speak") == 2  # the greeting and the reply
    assert all(auth == f"Bearer {KEY}" for kind, auth in server.requests if kind != "down")
    assert KEY not in err
