"""Deepgram, Cartesia and ElevenLabs adapters against loopback servers replaying their
documented websocket messages: streaming, refused handshakes, garbage, a socket closed
mid-stream and a provider that never answers each end in a clear ProviderError."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs, urlsplit

import pytest
from _provider_docs import (
    DEEPGRAM_METADATA,
    DEEPGRAM_UTTERANCE_END,
    ELEVENLABS_ERROR,
    ELEVENLABS_FINAL,
    cartesia_chunk,
    cartesia_done,
    cartesia_error,
    cartesia_timestamps,
    deepgram_results,
    dumps,
    elevenlabs_audio,
    pcm_bytes,
)
from _wire_servers import Seen, WsHandler, ws_server
from websockets.asyncio.server import ServerConnection

from voxplane.errors import ProviderError
from voxplane.media.frame import AudioFrame
from voxplane.providers.base import TTS, SttHint
from voxplane.providers.cloud.cartesia import CartesiaTTS
from voxplane.providers.cloud.common import Endpoint
from voxplane.providers.cloud.deepgram import (
    DeepgramLive,
    DeepgramOptions,
    DeepgramSTT,
    LiveResult,
    UtteranceEnd,
)
from voxplane.providers.cloud.elevenlabs import ElevenLabsTTS
from voxplane.testing.fakes import tone

KEY = "test-key-5f1c9a0e7b"
SPEECH = tone(1000)  # one second at 16 kHz


def endpoint(url: str, timeout_s: float = 0.5) -> Endpoint:
    return Endpoint(KEY, url, timeout_s)


async def collect(tts: TTS, text: str) -> list[AudioFrame]:
    return [frame async for frame in tts.synthesize(text)]


# --- Deepgram: streaming ----------------------------------------------------------------


async def deepgram_session(connection: ServerConnection, seen: Seen) -> None:
    """Interim then final results while audio arrives; the rest and Metadata on CloseStream."""
    first = True
    async for message in connection:
        seen.messages.append(message)
        if isinstance(message, bytes):
            if first:
                first = False
                await connection.send(dumps(deepgram_results("I'd like", is_final=False)))
                await connection.send(
                    dumps(deepgram_results("I'd like to book", is_final=True, speech_final=True))
                )
                await connection.send(dumps(DEEPGRAM_UTTERANCE_END))
            continue
        if json.loads(message)["type"] == "Finalize":
            await connection.send(dumps(deepgram_results("a clean", is_final=False, start=2.0)))
        if json.loads(message)["type"] == "CloseStream":
            break
    await connection.send(dumps(deepgram_results("a cleaning.", is_final=True, start=2.0)))
    await connection.send(dumps(DEEPGRAM_METADATA))
    await connection.close()


def test_deepgram_joins_the_final_results_of_the_stream() -> None:
    seen = Seen()

    async def main() -> str:
        async with ws_server(lambda c: deepgram_session(c, seen), seen) as url:
            hint = SttHint("name", phrases=("Acme",))
            transcript = await DeepgramSTT(endpoint(url)).recognize(SPEECH, hint)
            return transcript.text

    assert asyncio.run(main()) == "I'd like to book a cleaning."
    audio = b"".join(m for m in seen.messages if isinstance(m, bytes))
    assert audio == SPEECH.astype("<i2").tobytes()
    assert json.loads(seen.messages[-1]) == {"type": "CloseStream"}
    url = urlsplit(seen.paths[0])
    query = parse_qs(url.query)
    assert url.path == "/v1/listen"
    assert query["encoding"] == ["linear16"] and query["sample_rate"] == ["16000"]
    assert query["interim_results"] == ["true"] and query["endpointing"] == ["300"]
    assert query["keyterm"] == ["Acme"] and query["model"] == ["nova-3"]
    assert seen.headers[0]["authorization"] == f"Token {KEY}"


def test_deepgram_live_streams_interim_and_final_results() -> None:
    seen = Seen()

    async def main() -> list[object]:
        events: list[object] = []
        async with ws_server(lambda c: deepgram_session(c, seen), seen) as url:
            options = DeepgramOptions(endpointing_ms=500)
            async with DeepgramLive.open(endpoint(url), options) as live:
                await live.push(SPEECH[:1600])
                stream = live.events()
                events += [await anext(stream) for _ in range(3)]  # before any end
                await live.finalize()
                events.append(await anext(stream))
                await live.end()
                events += [event async for event in stream]
        return events

    events = asyncio.run(main())
    assert [(e.text, e.is_final) for e in events if isinstance(e, LiveResult)] == [
        ("I'd like", False),
        ("I'd like to book", True),
        ("a clean", False),
        ("a cleaning.", True),
    ]
    assert isinstance(events[2], UtteranceEnd) and events[2].last_word_end_s == 2.395
    assert json.loads(seen.messages[1]) == {"type": "Finalize"}
    assert "endpointing=500" in seen.paths[0]


# --- Cartesia and ElevenLabs: streaming -------------------------------------------------


def test_cartesia_streams_the_chunks_of_its_context() -> None:
    seen = Seen()
    audio = pcm_bytes(300, 16_000)

    async def session(connection: ServerConnection) -> None:
        request = json.loads(await connection.recv())
        seen.messages.append(json.dumps(request))
        context = request["context_id"]
        await connection.send(dumps(cartesia_chunk(audio[:4001], context)))  # splits a sample
        await connection.send(dumps(cartesia_timestamps(context)))
        await connection.send(dumps(cartesia_chunk(audio[4001:], context)))
        await connection.send(dumps(cartesia_done(context)))

    async def main() -> list[AudioFrame]:
        async with ws_server(session, seen) as url:
            return await collect(CartesiaTTS(endpoint(url)), "Hello, world!")

    frames = asyncio.run(main())
    assert b"".join(f.samples.astype("<i2").tobytes() for f in frames) == audio
    assert {f.sample_rate for f in frames} == {16_000}
    request = json.loads(seen.messages[0])
    assert request["transcript"] == "Hello, world!" and request["continue"] is False
    assert request["output_format"] == {
        "container": "raw",
        "encoding": "pcm_s16le",
        "sample_rate": 16_000,
    }
    assert seen.paths[0] == "/tts/websocket" and seen.headers[0]["x-api-key"] == KEY
    assert "cartesia-version" in seen.headers[0]


def test_elevenlabs_streams_audio_until_is_final() -> None:
    seen = Seen()
    audio = pcm_bytes(300, 16_000)

    async def session(connection: ServerConnection) -> None:
        for _ in range(3):  # open, text with flush, end of input
            seen.messages.append(await connection.recv())
        await connection.send(dumps(elevenlabs_audio(audio[:3001])))
        await connection.send(dumps(elevenlabs_audio(audio[3001:])))
        await connection.send(dumps(ELEVENLABS_FINAL))

    async def main() -> list[AudioFrame]:
        async with ws_server(session, seen) as url:
            return await collect(ElevenLabsTTS(endpoint(url)), "Hello there.")

    frames = asyncio.run(main())
    assert b"".join(f.samples.astype("<i2").tobytes() for f in frames) == audio
    sent = [json.loads(m) for m in seen.messages]
    assert sent[0]["text"] == " "
    assert sent[1] == {"text": "Hello there. ", "flush": True}
    assert sent[2] == {"text": ""}
    path = urlsplit(seen.paths[0])
    assert path.path == "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM/stream-input"
    assert parse_qs(path.query)["output_format"] == ["pcm_16000"]
    assert seen.headers[0]["xi-api-key"] == KEY


def test_an_error_message_in_the_stream_is_a_provider_error() -> None:
    async def cartesia(connection: ServerConnection) -> None:
        context = json.loads(await connection.recv())["context_id"]
        await connection.send(dumps(cartesia_error(context)))

    async def elevenlabs(connection: ServerConnection) -> None:
        await connection.recv()
        await connection.send(dumps(ELEVENLABS_ERROR))
        async for _ in connection:
            pass

    async def main(handler: WsHandler, tts: Callable[[str], TTS]) -> ProviderError:
        async with ws_server(handler, Seen()) as url:
            with pytest.raises(ProviderError) as caught:
                await collect(tts(url), "Hello.")
            return caught.value

    error = asyncio.run(main(cartesia, lambda url: CartesiaTTS(endpoint(url))))
    assert "Invalid model" in str(error) and "400" in str(error) and not error.retryable
    error = asyncio.run(main(elevenlabs, lambda url: ElevenLabsTTS(endpoint(url))))
    assert "stability" in str(error) and not error.retryable


# --- every websocket adapter: failures ------------------------------------------------


async def _deepgram_call(url: str) -> object:
    return await DeepgramSTT(endpoint(url, 0.3)).recognize(SPEECH)


async def _cartesia_call(url: str) -> object:
    return await collect(CartesiaTTS(endpoint(url, 0.3)), "Hello.")


async def _elevenlabs_call(url: str) -> object:
    return await collect(ElevenLabsTTS(endpoint(url, 0.3)), "Hello.")


def _first_valid(name: str, first: str | bytes) -> str:
    if name == "deepgram":
        return dumps(deepgram_results("I'd", is_final=False))
    if name == "cartesia":
        context = json.loads(first)["context_id"]
        return dumps(cartesia_chunk(pcm_bytes(20, 16_000), context))
    return dumps(elevenlabs_audio(pcm_bytes(20, 16_000)))


ADAPTERS: dict[str, Callable[[str], Awaitable[object]]] = {
    "deepgram": _deepgram_call,
    "cartesia": _cartesia_call,
    "elevenlabs": _elevenlabs_call,
}


def _failure(name: str, case: str) -> ProviderError:
    async def handler(connection: ServerConnection) -> None:
        first = await connection.recv()
        if case == "garbage":
            await connection.send("<html><body>502 Bad Gateway</body></html>")
        elif case == "closed":
            await connection.send(_first_valid(name, first))
            await connection.close(1011, "internal server error")
            return
        elif case == "binary":
            await connection.send(b"\x00\x01garbage")
        async for _ in connection:  # "silent": read everything, answer nothing
            pass

    refuse = {
        "401": (401, f"Invalid credentials {KEY}"),
        "429": (429, "Too Many Requests"),
        "500": (500, "Internal Server Error"),
    }.get(case)

    async def main() -> ProviderError:
        async with ws_server(handler, Seen(), refuse) as url:
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
        ("garbage", False, "not JSON"),
        ("binary", False, "binary data"),
        ("closed", True, "closed the stream (code 1011): internal server error"),
        ("silent", True, "did not answer in time"),
    ],
)
def test_websocket_failures_are_clear_provider_errors(
    name: str, case: str, retryable: bool, says: str
) -> None:
    error = _failure(name, case)
    assert error.retryable is retryable
    assert says in str(error) and str(error).startswith(name)
    assert KEY not in str(error)


def test_an_unreachable_provider_is_a_retryable_error() -> None:
    async def main() -> ProviderError:
        with pytest.raises(ProviderError) as caught:
            await DeepgramSTT(endpoint("ws://127.0.0.1:9")).recognize(SPEECH)
        return caught.value

    error = asyncio.run(main())
    assert error.retryable and "unreachable" in str(error)


def test_deepgram_closing_normally_after_close_stream_keeps_the_transcript() -> None:
    async def session(connection: ServerConnection) -> None:
        async for message in connection:
            if isinstance(message, str) and json.loads(message)["type"] == "CloseStream":
                break
        await connection.send(dumps(deepgram_results("Tuesday at ten.", is_final=True)))
        await connection.close()  # 1000, no Metadata

    async def main() -> str:
        async with ws_server(session, Seen()) as url:
            return (await DeepgramSTT(endpoint(url)).recognize(SPEECH)).text

    assert asyncio.run(main()) == "Tuesday at ten."


def test_a_tts_stream_closed_normally_before_done_is_a_retryable_error() -> None:
    async def session(connection: ServerConnection) -> None:
        context = json.loads(await connection.recv())["context_id"]
        await connection.send(dumps(cartesia_chunk(pcm_bytes(20, 16_000), context)))
        await connection.close()  # 1000 before "done"

    async def main() -> ProviderError:
        async with ws_server(session, Seen()) as url:
            with pytest.raises(ProviderError) as caught:
                await collect(CartesiaTTS(endpoint(url)), "Hello.")
            return caught.value

    error = asyncio.run(main())
    assert error.retryable and "code 1000" in str(error)


def test_no_log_line_carries_the_key_or_the_text_even_at_debug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def session(connection: ServerConnection) -> None:
        context = json.loads(await connection.recv())["context_id"]
        await connection.send(dumps(cartesia_chunk(pcm_bytes(20, 16_000), context)))
        await connection.send(dumps(cartesia_done(context)))

    async def main() -> None:
        async with ws_server(session, Seen()) as url:
            await collect(CartesiaTTS(endpoint(url)), "My card number is 4111.")

    caplog.set_level(logging.DEBUG)
    asyncio.run(main())
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("websockets.server")]
    assert ours and not [line for line in ours if KEY in line or "4111" in line]


@pytest.mark.parametrize(
    "message",
    [
        {"type": "Results", "channel": {"alternatives": []}, "duration": 1.0},
        {"type": "Results", "channel": {"alternatives": [{"transcript": 7}]}, "duration": 1.0},
        {"type": "Results", "channel": {"alternatives": [{"transcript": "hi"}]}},
        {"type": "UtteranceEnd", "last_word_end": "soon"},
        {"transcript": "no type"},
    ],
)
def test_deepgram_messages_that_break_the_protocol_are_clear_errors(
    message: dict[str, object],
) -> None:
    async def session(connection: ServerConnection) -> None:
        await connection.recv()
        await connection.send(json.dumps(message))
        async for _ in connection:
            pass

    async def main() -> ProviderError:
        async with ws_server(session, Seen()) as url:
            with pytest.raises(ProviderError) as caught:
                await DeepgramSTT(endpoint(url)).recognize(SPEECH)
            return caught.value

    error = asyncio.run(main())
    assert not error.retryable and str(error).startswith("deepgram sent an unexpected answer")
