"""A call's Cartesia TTS keeps one websocket for all its sentences, a context each, against
a loopback server replaying Cartesia's documented messages: one handshake for many
sentences; a sentence closed early sends the cancel for its context, and its late chunks
never reach the next sentence; a socket the server closed is replaced without the sentence
failing; an error for one context leaves the socket usable; overlapping sentences each get
their own audio; ``aclose`` closes it."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from _provider_docs import (
    cartesia_cancel,
    cartesia_chunk,
    cartesia_done,
    cartesia_error,
    dumps,
    pcm_bytes,
)
from _wire_servers import Seen, ws_server
from websockets.asyncio.server import ServerConnection

from voxplane.errors import ProviderError
from voxplane.media.frame import AudioFrame
from voxplane.providers.cloud.cartesia import CartesiaTTS
from voxplane.providers.cloud.common import Endpoint

KEY = "test-key-5f1c9a0e7b"
Answer = Callable[[ServerConnection, dict[str, object], int], Awaitable[None]]
Handler = Callable[[ServerConnection], Awaitable[None]]


def audio_for(text: str) -> bytes:
    """Audio that tells the sentences apart: a tone whose pitch depends on the text."""
    return pcm_bytes(100, 16_000, hz=200.0 + 10 * len(text))


async def speak(tts: CartesiaTTS, text: str) -> bytes:
    return b"".join([f.samples.astype("<i2").tobytes() async for f in tts.synthesize(text)])


async def answer_in_full(connection: ServerConnection, request: dict[str, object], _n: int) -> None:
    context = str(request["context_id"])
    audio = audio_for(str(request["transcript"]))
    await connection.send(dumps(cartesia_chunk(audio[:1001], context)))
    await connection.send(dumps(cartesia_chunk(audio[1001:], context)))
    await connection.send(dumps(cartesia_done(context)))


def server(
    seen: Seen, answer: Answer = answer_in_full
) -> Callable[[ServerConnection], Awaitable[None]]:
    """Answers each generation request on a connection with ``answer`` (``n``: the request's
    number over all connections); records every message received."""

    async def handler(connection: ServerConnection) -> None:
        async for raw in connection:
            message = json.loads(raw)
            seen.messages.append(json.dumps(message))
            if "transcript" in message:
                requests = sum("transcript" in json.loads(m) for m in seen.messages)
                await answer(connection, message, requests)

    return handler


def sent(seen: Seen) -> list[dict[str, object]]:
    return [json.loads(m) for m in seen.messages]


def test_several_sentences_share_one_socket_each_in_its_own_context() -> None:
    seen = Seen()
    texts = ["Hello there.", "How can I help?", "Goodbye now, take care."]

    async def main() -> list[bytes]:
        async with ws_server(server(seen), seen) as url:
            tts = CartesiaTTS(Endpoint(KEY, url, 0.5))
            try:
                return [await speak(tts, text) for text in texts]
            finally:
                await tts.aclose()

    assert asyncio.run(main()) == [audio_for(text) for text in texts]
    assert len(seen.paths) == 1  # one handshake
    contexts = [m["context_id"] for m in sent(seen)]
    assert len(set(contexts)) == len(texts)
    assert not [m for m in sent(seen) if m.get("cancel")]  # every context ended by "done"


def test_a_sentence_closed_early_is_cancelled_and_its_late_chunks_are_dropped() -> None:
    seen = Seen()
    first_audio = audio_for("A long answer that gets cut off.")

    async def answer(connection: ServerConnection, request: dict[str, object], n: int) -> None:
        context = str(request["context_id"])
        if n == 1:  # half of it, then wait (the caller interrupts)
            await connection.send(dumps(cartesia_chunk(first_audio[:1600], context)))
            return
        # the server still sends the cut sentence's chunks before the next one's
        stale = str(sent(seen)[0]["context_id"])
        await connection.send(dumps(cartesia_chunk(first_audio[1600:], stale)))
        await connection.send(dumps(cartesia_done(stale)))
        await answer_in_full(connection, request, n)

    async def main() -> bytes:
        async with ws_server(server(seen, answer), seen) as url:
            tts = CartesiaTTS(Endpoint(KEY, url, 0.5))
            try:
                stream = tts.synthesize("A long answer that gets cut off.")
                await anext(stream)
                await stream.aclose()  # a barge-in
                return await speak(tts, "Sorry, go ahead.")
            finally:
                await tts.aclose()

    assert asyncio.run(main()) == audio_for("Sorry, go ahead.")
    messages = sent(seen)
    assert messages[1] == cartesia_cancel(str(messages[0]["context_id"]))
    assert messages[2]["transcript"] == "Sorry, go ahead."
    assert len(seen.paths) == 1


@pytest.mark.parametrize("when", ["idle", "on_request"])
def test_a_socket_the_server_closed_is_replaced_without_failing_the_sentence(when: str) -> None:
    seen = Seen()
    idle_closed = asyncio.Event()

    async def answer(connection: ServerConnection, request: dict[str, object], n: int) -> None:
        if n == 2 and when == "on_request":  # closed as the request arrives, unanswered
            await connection.close(1001, "going away")
            return
        await answer_in_full(connection, request, n)
        if n == 1 and when == "idle":  # an idle timeout, seen by the client before it asks
            await connection.close(1000, "idle")
            idle_closed.set()

    async def main() -> list[bytes]:
        async with ws_server(server(seen, answer), seen) as url:
            tts = CartesiaTTS(Endpoint(KEY, url, 0.5))
            try:
                first = await speak(tts, "First.")
                if when == "idle":
                    await asyncio.wait_for(idle_closed.wait(), 2.0)
                return [first, await speak(tts, "Second one.")]
            finally:
                await tts.aclose()

    assert asyncio.run(main()) == [audio_for("First."), audio_for("Second one.")]
    assert len(seen.paths) == 2


def test_a_new_socket_that_closes_before_answering_fails_the_sentence() -> None:
    async def answer(connection: ServerConnection, request: dict[str, object], n: int) -> None:
        await connection.close(1011, "internal error")

    async def main() -> tuple[ProviderError, int]:
        seen = Seen()
        async with ws_server(server(seen, answer), seen) as url:
            tts = CartesiaTTS(Endpoint(KEY, url, 0.5))
            try:
                with pytest.raises(ProviderError) as caught:
                    await speak(tts, "Hello.")
            finally:
                await tts.aclose()
            return caught.value, len(seen.paths)

    error, handshakes = asyncio.run(main())
    assert error.retryable and "code 1011" in str(error)
    assert handshakes == 1  # a socket opened for the sentence is not retried


def test_an_error_for_one_context_fails_that_sentence_and_keeps_the_socket() -> None:
    seen = Seen()

    async def answer(connection: ServerConnection, request: dict[str, object], n: int) -> None:
        if n == 1:
            await connection.send(dumps(cartesia_error(str(request["context_id"]))))
        else:
            await answer_in_full(connection, request, n)

    async def main() -> tuple[ProviderError, bytes]:
        async with ws_server(server(seen, answer), seen) as url:
            tts = CartesiaTTS(Endpoint(KEY, url, 0.5))
            try:
                with pytest.raises(ProviderError) as caught:
                    await speak(tts, "Hello.")
                return caught.value, await speak(tts, "Hello again.")
            finally:
                await tts.aclose()

    error, audio = asyncio.run(main())
    assert "HTTP 400" in str(error) and not error.retryable
    assert audio == audio_for("Hello again.")
    assert len(seen.paths) == 1
    assert not [m for m in sent(seen) if m.get("cancel")]  # the error ended that context


def test_a_timeout_ends_the_socket_and_the_next_sentence_opens_another() -> None:
    seen = Seen()

    async def answer(connection: ServerConnection, request: dict[str, object], n: int) -> None:
        if n != 1:
            await answer_in_full(connection, request, n)

    async def main() -> tuple[ProviderError, bytes]:
        async with ws_server(server(seen, answer), seen) as url:
            tts = CartesiaTTS(Endpoint(KEY, url, 0.3))
            try:
                with pytest.raises(ProviderError) as caught:
                    await speak(tts, "Hello.")
                return caught.value, await speak(tts, "Hello again.")
            finally:
                await tts.aclose()

    error, audio = asyncio.run(main())
    assert error.retryable and "did not answer in time" in str(error)
    assert audio == audio_for("Hello again.")
    assert len(seen.paths) == 2


def test_aclose_closes_the_socket() -> None:
    seen = Seen()
    codes: list[int | None] = []
    closed = asyncio.Event()

    async def handler(connection: ServerConnection) -> None:
        await server(seen)(connection)  # until the client closes
        codes.append(connection.close_code)
        closed.set()

    async def main() -> None:
        async with ws_server(handler, seen) as url:
            tts = CartesiaTTS(Endpoint(KEY, url, 0.5))
            await speak(tts, "Hello.")
            await tts.aclose()
            await asyncio.wait_for(closed.wait(), 2.0)  # before the server shuts down

    asyncio.run(main())
    assert codes == [1000]


def test_no_log_line_carries_the_key_or_the_text_across_cancel_and_reconnect(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen = Seen()

    async def answer(connection: ServerConnection, request: dict[str, object], n: int) -> None:
        context = str(request["context_id"])
        if n == 1:
            await connection.send(dumps(cartesia_chunk(pcm_bytes(40, 16_000), context)))
        elif n == 2:
            await connection.close(1001, "going away")
        else:
            await answer_in_full(connection, request, n)

    async def main() -> None:
        async with ws_server(server(seen, answer), seen) as url:
            tts = CartesiaTTS(Endpoint(KEY, url, 0.5))
            try:
                stream = tts.synthesize("My card number is 4111.")
                await anext(stream)
                await stream.aclose()
                await speak(tts, "The code is 9876.")
            finally:
                await tts.aclose()

    caplog.set_level(logging.DEBUG)
    asyncio.run(main())
    assert len(seen.paths) == 2
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("websockets.server")]
    assert ours
    assert not [line for line in ours if KEY in line or "4111" in line or "9876" in line]


def test_overlapping_sentences_each_get_their_own_audio() -> None:
    seen = Seen()

    async def read(stream: AsyncIterator[AudioFrame], first: bytes) -> bytes:
        return first + b"".join([f.samples.astype("<i2").tobytes() async for f in stream])

    async def main() -> tuple[bytes, bytes]:
        async with ws_server(server(seen), seen) as url:
            tts = CartesiaTTS(Endpoint(KEY, url, 0.5))
            try:
                one, two = tts.synthesize("First sentence."), tts.synthesize("Second one, here.")
                one_first = (await anext(one)).samples.astype("<i2").tobytes()
                two_first = (await anext(two)).samples.astype("<i2").tobytes()  # reads one's
                return await read(one, one_first), await read(two, two_first)
            finally:
                await tts.aclose()

    assert asyncio.run(main()) == (audio_for("First sentence."), audio_for("Second one, here."))
    assert len(seen.paths) == 1
