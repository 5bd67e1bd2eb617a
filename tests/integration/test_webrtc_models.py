"""A WebRTC call to the example agent on the real local models (Whisper, Piper, Silero):
a recorded caller question in over Opus, and the agent's answer heard by the caller —
transcribed back from the audio it received."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
import yaml
from _webrtc_server import web_server

from voxplane.media.resample import resample
from voxplane.media.wav import decode_wav
from voxplane.providers.whisper import WhisperSTT
from voxplane.runtime.factory import LocalModels, ProviderFactory
from voxplane.settings import Settings
from voxplane.testing.webrtc_caller import Utterance, WebRtcCaller

pytestmark = pytest.mark.models

REPO_ROOT = Path(__file__).resolve().parents[2]
AGENT = REPO_ROOT / "examples" / "agents" / "acme-dental.yaml"
QUESTION = REPO_ROOT / "examples" / "audio" / "acme-caller-1.wav"  # "…opening hours?"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_example_agent_answers_a_web_caller(settings: Settings) -> None:
    models = LocalModels.load()
    question, rate = decode_wav(QUESTION.read_bytes())

    async def main() -> None:
        async with web_server(settings, ProviderFactory(models)) as server:
            agent = yaml.safe_load(AGENT.read_text())
            _, key, agent_id = await server.tenant(agent)
            # The caller asks once the greeting is over.
            caller = WebRtcCaller([Utterance(None, question, rate)], keep_audio=True)
            try:
                call_id = await server.call(key, agent_id, caller)
                async with asyncio.timeout(60):
                    # The answer's transcript and latency come once it has played.
                    while not any(m["type"] == "metrics" for m in caller.messages):  # noqa: ASYNC110
                        await asyncio.sleep(0.1)
                caller.send('{"type": "hangup"}')
                await caller.wait_ended(timeout_s=10)
            finally:
                await caller.aclose()
            record = await server.record_of(key, call_id)

            said = [m for m in caller.messages if m["type"] == "transcript"]
            assert said[0]["role"] == "agent" and "Acme Dental" in said[0]["text"]
            assert said[1]["role"] == "user" and "hours" in said[1]["text"].lower()
            assert "8 am to 5 pm" in said[2]["text"]
            assert [t["text"] for t in record["turns"]] == [t["text"] for t in said]

            # What the caller actually heard after asking: the agent's words, as audio.
            heard = np.concatenate(caller.audio)
            asked_at = caller.speech_ended_at[0] - caller.heard[0].at
            answer = resample(heard[int(asked_at * 48_000) :], 48_000, 16_000)
            words = (await WhisperSTT(models.whisper, "en").recognize(answer)).text.lower()
            assert "8" in words or "eight" in words, words
            assert "5" in words or "five" in words, words

    asyncio.run(main())
