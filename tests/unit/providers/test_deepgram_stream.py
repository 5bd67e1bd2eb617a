"""Deepgram's live socket as a call's SttStream, against loopback servers replaying its
documented messages: interim and final results on the session's clock, flushes that
finalize a turn, one socket for many turns, and failures that end in a clear ProviderError
while the call's next turn works again."""

from __future__ import annotations

import asyncio
import json
import logging
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import pytest
from _provider_docs import DEEPGRAM_METADATA, deepgram_results, dumps
from _wire_servers import Seen, ws_server
from websockets.asyncio.server import ServerConnection

from voxplane.errors import ProviderError
from voxplane.providers.base import SttHint, SttResult
from voxplane.providers.cloud.common import Endpoint
from voxplane.providers.cloud.deepgram_stream import (
    QUEUE_MS,
    DeepgramStreamingSTT,
    DeepgramSttStream,
)
from voxplane.testing.fakes import tone

KEY = "test-key-5f1c9a0e7b"
FRAME = tone(20)  # the session pushes 20 ms at a time


@dataclass
class Script:
    """One socket's side of the conversation: ``said`` is each utterance's text and where it
    lies in the socket's audio (seconds)."""

    said: list[tuple[str, float, float]] = field(default_factory=list)
    endpointing: bool = False
    """Finalize an utterance by itself 300 ms after it ends (``speech_final``)."""
    ignore_finalizes: int = 0
    """Finalize messages left unanswered, from the first."""
    drop_at_s: float | None = None
    """Close with 1011 once this much audio came."""
    finalized: asyncio.Event = field(default_factory=asyncio.Event)
    """Set at the first Finalize received."""


async def live(connection: ServerConnection, seen: Seen, script: Script) -> None:
    """Deepgram's side of a live stream, as its documentation describes it: an interim
    result when audio passes an utterance's middle; final results up to the audio received
    on Finalize (the last one ``from_finalize``) and on CloseStream (then Metadata)."""
    received = final_to = 0.0
    interim: set[str] = set()

    async def finalize(to: float, *, speech_final: bool = False, answer: bool = False) -> None:
        nonlocal final_to
        for text, start, end in script.said:
            if final_to <= start and end <= to:
                message = deepgram_results(
                    text,
                    is_final=True,
                    speech_final=speech_final,
                    start=start,
                    duration=end - start,
                )
                await connection.send(dumps(message))
                final_to = end
        rest = deepgram_results("", is_final=True, start=final_to, duration=to - final_to)
        await connection.send(dumps({**rest, "from_finalize": answer}))
        final_to = to

    async for message in connection:
        seen.messages.append(message)
        if isinstance(message, bytes):
            received += len(message) / 32_000
            if script.drop_at_s is not None and received >= script.drop_at_s:
                await connection.close(1011, "internal server error")
                return
            for text, start, end in script.said:
                middle = (start + end) / 2
                if text not in interim and start >= final_to and received >= middle:
                    interim.add(text)
                    half = " ".join(text.split()[: max(1, len(text.split()) // 2)])
                    partial = deepgram_results(half, is_final=False, start=start, duration=0.3)
                    await connection.send(dumps(partial))
                if script.endpointing and start >= final_to and received >= end + 0.3:
                    await finalize(received, speech_final=True)
            continue
        kind = json.loads(message)["type"]
        if kind == "Finalize":
            script.finalized.set()
            if script.ignore_finalizes:
                script.ignore_finalizes -= 1
            else:
                await finalize(received, answer=True)
        elif kind == "CloseStream":
            await finalize(received)
            await connection.send(dumps(DEEPGRAM_METADATA))
            await connection.close()
            return


def serve(seen: Seen, *scripts: Script) -> AbstractAsyncContextManager[str]:
    """A server playing ``scripts[i]`` on its i-th socket."""
    sockets = iter(scripts)
    return ws_server(lambda c: live(c, seen, next(sockets)), seen)


def open_stream(url: str, timeout_s: float = 0.5) -> DeepgramSttStream:
    stt = DeepgramStreamingSTT(Endpoint(KEY, url, timeout_s))
    return stt.open(lambda: SttHint("name", phrases=("Acme",)))


async def speak(stream: DeepgramSttStream, ms: int) -> None:
    """``ms`` of caller audio, a frame at a time, as the session pushes it."""
    for _ in range(ms // 20):
        stream.push(FRAME)
        await asyncio.sleep(0)


async def read_all(stream: DeepgramSttStream) -> list[tuple[str, bool, float, float]]:
    return [(r.text, r.final, r.start_ms, r.end_ms) async for r in stream.results()]


def finalizes(seen: Seen) -> int:
    return sum(isinstance(m, str) and json.loads(m)["type"] == "Finalize" for m in seen.messages)


CLEANING = ("Book a cleaning.", 0.2, 1.0)
TUESDAY = ("Tuesday at ten.", 2.0, 2.8)


def test_interim_then_final_results_are_published_on_the_calls_clock() -> None:
    seen = Seen()
    published: list[tuple[str, bool, float, float]] = []

    async def main() -> SttResult:
        async with serve(seen, Script([CLEANING], endpointing=True)) as url:
            stream = open_stream(url)
            final = asyncio.Event()

            async def read() -> None:
                async for r in stream.results():
                    published.append((r.text, r.final, r.start_ms, r.end_ms))
                    if r.final:
                        final.set()

            reader = asyncio.create_task(read())
            await speak(stream, 1400)
            await asyncio.wait_for(final.wait(), 2)
            result = await stream.flush(200, 1000)
            await stream.end()
            await reader
            return result

    result = asyncio.run(main())
    assert published == [
        ("Book", False, 200.0, 500.0),
        ("Book a cleaning.", True, 200.0, 1000.0),
    ]
    assert result.text == "Book a cleaning." and result.final
    assert finalizes(seen) == 0  # Deepgram's endpointing had settled the turn already


def test_two_turns_are_finalized_on_one_socket_without_repeating_words() -> None:
    seen = Seen()

    async def main() -> tuple[list[str], float]:
        async with serve(seen, Script([CLEANING, TUESDAY])) as url:
            stream = open_stream(url)
            await speak(stream, 1300)
            first = await stream.flush(200, 1000)
            await speak(stream, 1800)
            second = await stream.flush(2000, 2800)
            held = await stream.flush(200, 2800)  # a held turn heard again, whole
            await stream.end()
            return [first.text, second.text, held.text], stream.audio_ms

    texts, audio_ms = asyncio.run(main())
    assert texts == ["Book a cleaning.", "Tuesday at ten.", "Book a cleaning. Tuesday at ten."]
    assert len(seen.paths) == 1 and finalizes(seen) == 2
    assert audio_ms == 3100
    query = parse_qs(urlsplit(seen.paths[0]).query)
    assert query["keyterm"] == ["Acme"] and query["interim_results"] == ["true"]
    assert json.loads(seen.messages[-1]) == {"type": "CloseStream"}


def test_a_word_between_two_close_turns_is_given_to_one_of_them() -> None:
    async def main() -> list[str]:
        async with serve(Seen(), Script([CLEANING, ("Tuesday.", 1.05, 1.45)])) as url:
            stream = open_stream(url)
            await speak(stream, 1000)  # the turn ends after 100 ms of silence
            first = await stream.flush(200, 900)  # "cleaning." runs on to 1000 ms
            await speak(stream, 800)
            second = await stream.flush(1000, 1500)
            await stream.end()
            return [first.text, second.text]

    assert asyncio.run(main()) == ["Book a cleaning.", "Tuesday."]


def test_end_closes_the_stream_and_publishes_what_deepgram_still_had() -> None:
    seen = Seen()

    async def main() -> list[tuple[str, bool, float, float]]:
        async with serve(seen, Script([TUESDAY])) as url:
            stream = open_stream(url)
            reader = asyncio.create_task(read_all(stream))
            await speak(stream, 2900)
            await stream.end()
            return await reader

    published = asyncio.run(main())
    assert published[-1] == ("Tuesday at ten.", True, 2000.0, 2800.0)
    assert json.loads(seen.messages[-1]) == {"type": "CloseStream"}


def test_a_socket_dropped_mid_call_fails_the_turn_and_the_next_turn_reconnects() -> None:
    seen = Seen()

    async def main() -> tuple[ProviderError, str, DeepgramSttStream]:
        dropping, next_socket = Script(drop_at_s=1.0), Script([("Tuesday.", 0.2, 0.8)])
        async with serve(seen, dropping, next_socket) as url:
            stream = open_stream(url)
            await speak(stream, 1000)
            with pytest.raises(ProviderError) as caught:
                await stream.flush(200, 900)
            await speak(stream, 1000)  # a second of audio before a new socket opens
            await speak(stream, 1100)
            second = await stream.flush(2200, 2800)
            await stream.end()
            return caught.value, second.text, stream

    error, text, stream = asyncio.run(main())
    assert error.retryable and "closed the stream (code 1011)" in str(error)
    assert text == "Tuesday."
    assert len(seen.paths) == 2
    assert stream.dropped_ms == 1000 and stream.audio_ms == 2100


def test_a_finalize_never_answered_is_a_timeout_in_bounded_time() -> None:
    async def main() -> ProviderError:
        async with serve(Seen(), Script([CLEANING], ignore_finalizes=99)) as url:
            stream = open_stream(url, timeout_s=0.3)
            await speak(stream, 1300)
            with pytest.raises(ProviderError) as caught:
                async with asyncio.timeout(5):  # a guard against hanging, not a measure
                    await stream.flush(200, 1000)
            await stream.end()
            return caught.value

    error = asyncio.run(main())
    assert error.retryable and "did not answer in time (the final transcript)" in str(error)


def test_a_cancelled_flush_leaves_the_stream_working() -> None:
    seen = Seen()

    async def main() -> str:
        script = Script([CLEANING], ignore_finalizes=1)
        async with serve(seen, script) as url:
            stream = open_stream(url)
            await speak(stream, 1300)
            waiting = asyncio.create_task(stream.flush(200, 1000))
            await script.finalized.wait()
            waiting.cancel()
            await asyncio.wait([waiting])
            again = await stream.flush(200, 1000)
            await stream.end()
            return again.text

    assert asyncio.run(main()) == "Book a cleaning."
    assert finalizes(seen) == 2 and len(seen.paths) == 1


@pytest.mark.parametrize(
    ("message", "says"),
    [
        ("<html><body>502 Bad Gateway</body></html>", "not JSON"),
        (
            dumps(
                {
                    **deepgram_results("hi", is_final=True),
                    "channel": {"alternatives": [{"transcript": "hi", "words": [{"word": "hi"}]}]},
                }
            ),
            "a word without its text or times",
        ),
    ],
)
def test_a_message_outside_the_protocol_fails_the_flush_clearly(message: str, says: str) -> None:
    async def garbage(connection: ServerConnection) -> None:
        await connection.recv()
        await connection.send(message)
        async for _ in connection:
            pass

    async def main() -> ProviderError:
        async with ws_server(garbage, Seen()) as url:
            stream = open_stream(url)
            await speak(stream, 500)
            with pytest.raises(ProviderError) as caught:
                await stream.flush(100, 400)
            await stream.end()
            return caught.value

    error = asyncio.run(main())
    assert not error.retryable and says in str(error)
    assert str(error).startswith("deepgram sent an unexpected answer")


def test_audio_queued_past_the_limit_is_dropped_and_the_turn_fails() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accepts the connection, never answers the handshake
        writer.close()

    async def main() -> tuple[ProviderError, float]:
        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        async with server:
            stream = open_stream(url, timeout_s=5)
            for i in range((QUEUE_MS + 100) // 20):
                stream.push(FRAME)  # never waits for the network
                if i % 50 == 0:
                    await asyncio.sleep(0)  # the socket tries to open meanwhile
            with pytest.raises(ProviderError) as caught:
                await stream.flush(0, 5000)
            await stream.end()
            return caught.value, stream.dropped_ms

    error, dropped_ms = asyncio.run(main())
    assert error.retryable and "fell behind" in str(error)
    assert dropped_ms == QUEUE_MS + 100


def test_no_log_line_carries_the_key(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> ProviderError:
        async with ws_server(lambda c: c.wait_closed(), Seen(), (401, f"bad key {KEY}")) as url:
            stream = open_stream(url)
            await speak(stream, 500)
            with pytest.raises(ProviderError) as caught:
                await stream.flush(100, 400)
            await stream.end()
            return caught.value

    caplog.set_level(logging.DEBUG)
    error = asyncio.run(main())
    assert "refused the key (HTTP 401)" in str(error) and KEY not in str(error)
    ours = [r for r in caplog.records if not r.name.startswith("websockets.server")]
    assert any("deepgram refused the stream" in r.getMessage() for r in ours)
    assert not [r for r in ours if KEY in r.getMessage() or KEY in str(vars(r))]


def test_a_refused_key_is_not_asked_again_and_every_later_turn_fails_with_it() -> None:
    async def main() -> tuple[list[ProviderError], int]:
        seen = Seen()
        async with ws_server(lambda c: c.wait_closed(), seen, (401, "bad key")) as url:
            stream = open_stream(url)
            errors = []
            for turn in range(3):  # 2.5 s of audio between turns: past any reconnect wait
                await speak(stream, 2500)
                with pytest.raises(ProviderError) as caught:
                    await stream.flush(2500 * turn + 100, 2500 * turn + 2000)
                errors.append(caught.value)
            await stream.end()
            return errors, len(seen.paths)

    errors, handshakes = asyncio.run(main())
    assert handshakes == 1
    assert all(not e.retryable and "refused the key (HTTP 401)" in str(e) for e in errors)
