"""OpenAI speech to text, OpenAI text to speech and Azure text to speech against a loopback
HTTP server answering as their documentation shows: streamed audio, error statuses with
the documented bodies, garbage, a body cut short and a server that never answers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import httpx
import pytest
from _provider_docs import AZURE_ERRORS, OPENAI_TRANSCRIPTION, openai_error, pcm_bytes
from _wire_servers import (
    HttpRequest,
    Seen,
    head,
    http_server,
    never_answer,
    respond,
    respond_chunked,
)

from voxplane.errors import ProviderError
from voxplane.media.frame import AudioFrame
from voxplane.media.wav import decode_wav
from voxplane.providers.base import TTS, SttHint
from voxplane.providers.cloud.azure import AzureTTS, AzureVoice, ssml
from voxplane.providers.cloud.common import Endpoint, http_client
from voxplane.providers.cloud.openai import OpenAISTT, OpenAITTS
from voxplane.testing.fakes import tone

KEY = "sk-test-3c0ffee1234567"
SPEECH = tone(800)


def endpoint(url: str, timeout_s: float = 0.5) -> Endpoint:
    return Endpoint(KEY, url, timeout_s)


async def collect(tts: TTS, text: str) -> list[AudioFrame]:
    return [frame async for frame in tts.synthesize(text)]


def _pcm(frames: list[AudioFrame]) -> bytes:
    return b"".join(f.samples.astype("<i2").tobytes() for f in frames)


# --- streaming and requests -------------------------------------------------------------


def test_openai_transcribes_a_wav_upload() -> None:
    seen = Seen()

    async def handler(_request: HttpRequest, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 200, json.dumps(OPENAI_TRANSCRIPTION).encode(), "application/json")

    async def main() -> str:
        async with http_server(handler, seen) as url:
            stt = OpenAISTT(endpoint(url + "/v1"), "whisper-1", "en")
            hint = SttHint("date", prompt="Tuesday the 4th")
            return (await stt.recognize(SPEECH, hint)).text

    assert asyncio.run(main()) == OPENAI_TRANSCRIPTION["text"]
    assert seen.paths == ["/v1/audio/transcriptions"]
    assert seen.headers[0]["authorization"] == f"Bearer {KEY}"
    assert seen.headers[0]["content-type"].startswith("multipart/form-data")
    body = seen.bodies[0]
    for field, value in (("model", b"whisper-1"), ("prompt", b"Tuesday the 4th")):
        assert f'name="{field}"'.encode() in body and value in body
    wav = body[body.index(b"RIFF") :]
    samples, rate = decode_wav(wav[: wav.index(b"\r\n--")])
    assert rate == 16_000 and (samples == SPEECH).all()


def test_openai_speech_streams_pcm_as_it_arrives() -> None:
    seen = Seen()
    audio = pcm_bytes(400, 24_000)

    async def handler(_request: HttpRequest, writer: asyncio.StreamWriter) -> None:
        chunks = [audio[:1001], audio[1001:9000], audio[9000:]]  # one splits a sample
        await respond_chunked(writer, chunks, "audio/pcm")

    async def main() -> list[AudioFrame]:
        async with http_server(handler, seen) as url:
            return await collect(OpenAITTS(endpoint(url + "/v1")), "Hello there.")

    frames = asyncio.run(main())
    assert _pcm(frames) == audio and {f.sample_rate for f in frames} == {24_000}
    assert len(frames) >= 2  # streamed, not buffered into one
    request = json.loads(seen.bodies[0])
    assert seen.paths == ["/v1/audio/speech"]
    assert request["input"] == "Hello there." and request["response_format"] == "pcm"
    assert request["voice"] == "alloy"


def test_azure_posts_escaped_ssml_and_streams_raw_pcm() -> None:
    seen = Seen()
    audio = pcm_bytes(300, 16_000)

    async def handler(_request: HttpRequest, writer: asyncio.StreamWriter) -> None:
        await respond_chunked(writer, [audio[:777], audio[777:]], "audio/x-wav")

    async def main() -> list[AudioFrame]:
        async with http_server(handler, seen) as url:
            voice = AzureVoice("en-US-JennyNeural", "en-US", 1.2)
            return await collect(AzureTTS(endpoint(url), voice), "Tom & <Jerry>")

    frames = asyncio.run(main())
    assert _pcm(frames) == audio and {f.sample_rate for f in frames} == {16_000}
    headers = seen.headers[0]
    assert seen.paths == ["/cognitiveservices/v1"]
    assert headers["ocp-apim-subscription-key"] == KEY
    assert headers["content-type"] == "application/ssml+xml"
    assert headers["x-microsoft-outputformat"] == "raw-16khz-16bit-mono-pcm"
    document = seen.bodies[0].decode()
    assert "Tom &amp; &lt;Jerry&gt;" in document and "<Jerry>" not in document
    assert 'name="en-US-JennyNeural"' in document and 'rate="+20%"' in document


def test_a_shared_client_carries_the_requests_and_stays_open() -> None:
    seen = Seen()
    audio = pcm_bytes(100, 24_000)
    sent: list[str] = []

    async def handler(_request: HttpRequest, writer: asyncio.StreamWriter) -> None:
        await respond_chunked(writer, [audio], "audio/pcm")

    async def note(request: httpx.Request) -> None:
        sent.append(request.url.path)

    async def main() -> bool:
        async with http_server(handler, seen) as url, http_client() as shared:
            shared.event_hooks["request"] = [note]
            tts = OpenAITTS(endpoint(url + "/v1"), client=shared)
            for text in ("One.", "Two."):
                assert _pcm(await collect(tts, text)) == audio
            return shared.is_closed

    assert asyncio.run(main()) is False
    assert sent == ["/v1/audio/speech", "/v1/audio/speech"]


def test_ssml_attributes_cannot_be_broken_out_of() -> None:
    document = ssml("hi", AzureVoice("x' /><evil a='", "en-US"))
    assert "<evil" not in document


# --- every HTTP adapter: failures -------------------------------------------------------


async def _openai_stt(url: str) -> object:
    return await OpenAISTT(endpoint(url, 0.3)).recognize(SPEECH)


async def _openai_tts(url: str) -> object:
    return await collect(OpenAITTS(endpoint(url, 0.3)), "Hello.")


async def _azure_tts(url: str) -> object:
    return await collect(AzureTTS(endpoint(url, 0.3)), "Hello.")


ADAPTERS: dict[str, Callable[[str], Awaitable[object]]] = {
    "openai-stt": _openai_stt,
    "openai-tts": _openai_tts,
    "azure": _azure_tts,
}


def _error_body(name: str, status: int) -> tuple[bytes, str]:
    if name == "azure":
        return AZURE_ERRORS[status], "text/plain"
    return json.dumps(openai_error(status, KEY)).encode(), "application/json"


def _failure(name: str, case: str) -> ProviderError:
    async def handler(_request: HttpRequest, writer: asyncio.StreamWriter) -> None:
        if case.isdigit():
            body, kind = _error_body(name, int(case))
            await respond(writer, int(case), body, kind)
        elif case == "garbage":
            kind = "text/html" if name != "openai-tts" else "application/json"
            await respond(writer, 200, b"<html>Bad Gateway</html>", kind)
        elif case == "cut":  # promises 64 kB, sends 1 kB, hangs up
            writer.write(head(200, "application/octet-stream", 64_000) + b"\x01" * 1000)
            await writer.drain()
        elif case == "silent":
            await never_answer(_request, writer)

    async def main() -> ProviderError:
        async with http_server(handler, Seen()) as url:
            with pytest.raises(ProviderError) as caught:
                await ADAPTERS[name](url)
            return caught.value

    return asyncio.run(main())


@pytest.mark.parametrize("name", list(ADAPTERS))
@pytest.mark.parametrize(
    ("case", "retryable", "says"),
    [
        ("401", False, "refused the key (HTTP 401)"),
        ("429", True, "rate limiting (HTTP 429)"),
        ("500", True, "HTTP 500"),
        ("garbage", False, "unexpected answer"),
        ("cut", True, "dropped the connection mid-answer"),
        ("silent", True, "did not answer in time"),
    ],
)
def test_http_failures_are_clear_provider_errors(
    name: str, case: str, retryable: bool, says: str
) -> None:
    error = _failure(name, case)
    assert error.retryable is retryable
    assert says in str(error)
    assert KEY not in str(error)
