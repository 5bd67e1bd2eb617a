"""The media-stream transport over a scripted socket: frames, keys, marks and clear."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import numpy as np

from voxplane.media.frame import AudioFrame
from voxplane.media.g711 import ulaw_encode
from voxplane.transports.base import CallInfo, Dtmf, RemoteHangup
from voxplane.transports.twilio.protocol import Start
from voxplane.transports.twilio.stream import MediaStreamTransport
from voxplane.transports.twilio.twilio import TwilioDialect


class ScriptedSocket:
    """Gives the transport scripted messages; keeps what it sent and how it was closed."""

    def __init__(self, incoming: list[str]) -> None:
        self.incoming: asyncio.Queue[str | None] = asyncio.Queue()
        for text in incoming:
            self.incoming.put_nowait(text)
        self.sent: list[dict[str, object]] = []
        self.closed: tuple[int, str] | None = None

    async def receive(self) -> str | None:
        return await self.incoming.get()

    async def send(self, text: str) -> None:
        self.sent.append(json.loads(text))

    async def close(self, code: int, reason: str) -> None:
        self.closed = self.closed or (code, reason)
        self.incoming.put_nowait(None)

    def events(self, kind: str) -> list[dict[str, object]]:
        return [m for m in self.sent if m["event"] == kind]


class StallingSocket(ScriptedSocket):
    """A peer that takes its first message, then takes one only while ``reading`` is set."""

    def __init__(self, incoming: list[str]) -> None:
        super().__init__(incoming)
        self.reading = asyncio.Event()

    async def send(self, text: str) -> None:
        if self.sent:
            await self.reading.wait()
        await super().send(text)


def media(samples: np.ndarray) -> str:
    payload = base64.b64encode(ulaw_encode(samples)).decode()
    return json.dumps({"event": "media", "media": {"track": "inbound", "payload": payload}})


def mark(name: str) -> str:
    return json.dumps({"event": "mark", "mark": {"name": name}})


def transport(socket: ScriptedSocket) -> MediaStreamTransport:
    start = Start("MZ1", "CA1", "pcmu", 8000)
    return MediaStreamTransport(socket, TwilioDialect(), start, CallInfo("CA1", "twilio"))


def test_media_becomes_20_ms_frames_and_keys_and_stop_become_events() -> None:
    async def main() -> None:
        socket = ScriptedSocket(
            [
                media(np.full(240, 1000, np.int16)),  # 30 ms: one frame now, 10 ms kept
                json.dumps({"event": "dtmf", "dtmf": {"digit": "#"}}),
                media(np.full(80, 1000, np.int16)),
                json.dumps({"event": "stop"}),
            ]
        )
        call = transport(socket)
        frames = [f async for f in call.source.frames()]
        assert [len(f.samples) for f in frames] == [160, 160]
        assert [e async for e in call.events()] == [Dtmf("#"), RemoteHangup("caller_hangup")]
        assert socket.closed == (1000, "stream stopped")

    asyncio.run(main())


def test_marks_confirm_playout_and_clear_forgets_the_old_ones() -> None:
    async def main() -> None:
        socket = ScriptedSocket([])
        call = transport(socket)
        reader = asyncio.create_task(anext(call.source.frames(), None))
        frame = AudioFrame(np.zeros(160, np.int16), 8000)
        for _ in range(7):
            await call.sink.send(frame)
        assert [m["mark"] for m in socket.events("mark")] == [{"name": "0.5"}]
        assert call.sink.buffered_ms() == 140
        socket.incoming.put_nowait(mark("0.5"))
        await asyncio.sleep(0)
        assert call.sink.buffered_ms() == 40
        waiting = asyncio.create_task(call.sink.wait_for_playout())
        await asyncio.sleep(0)
        assert socket.events("mark")[-1]["mark"] == {"name": "0.7"} and not waiting.done()
        await call.sink.clear()  # barge-in: the carrier drops audio, returns the mark
        await asyncio.sleep(0)
        assert waiting.done() and call.sink.buffered_ms() == 0
        assert socket.events("clear") == [{"event": "clear", "streamSid": "MZ1"}]
        await call.sink.send(frame)
        socket.incoming.put_nowait(mark("0.7"))  # an echo from before the clear
        await asyncio.sleep(0)
        assert call.sink.buffered_ms() == 20  # not counted as played
        await call.aclose()
        await reader

    asyncio.run(main())


def test_a_bad_message_mid_call_closes_with_its_reason() -> None:
    async def main() -> None:
        socket = ScriptedSocket(['{"event": "start", "start": {}}'])
        call = transport(socket)
        assert [f async for f in call.source.frames()] == []
        assert [e async for e in call.events()] == [RemoteHangup("protocol_error")]
        assert socket.closed is not None and socket.closed[0] == 1008

    asyncio.run(main())


def test_a_carrier_gone_quiet_ends_the_call_once_its_media_stops() -> None:
    async def main() -> tuple[float, float, list[object], tuple[int, str] | None]:
        socket = ScriptedSocket([])
        call = transport(socket)

        async def listen() -> None:  # the pipeline reads every frame
            async for _ in call.source.frames():
                pass

        reader = asyncio.create_task(listen())
        watch = asyncio.create_task(call.watch(silence_s=0.2, stall_s=10, every_s=0.02))
        for _ in range(20):  # 0.4 s of media, every 20 ms: longer than the silence allowed
            socket.incoming.put_nowait(media(np.zeros(160, np.int16)))
            await asyncio.sleep(0.02)
        stopped = time.monotonic()
        async with asyncio.timeout(5):
            events = [e async for e in call.events()]  # ends with the call
        ended = time.monotonic()
        await watch
        await reader  # the stream's end ended the frames too
        return stopped, ended, events, socket.closed

    stopped, ended, events, closed = asyncio.run(main())
    assert events == [RemoteHangup("media_timeout")]
    assert closed == (1011, "nothing from the carrier for 0.2 s")
    assert ended - stopped >= 0.2  # not while the media came


def test_a_carrier_that_stops_reading_ends_the_call() -> None:
    async def main() -> tuple[list[object], tuple[int, str] | None]:
        socket = StallingSocket([])
        call = transport(socket)
        frame = AudioFrame(np.zeros(160, np.int16), 8000)
        await call.sink.send(frame)  # taken
        stuck = asyncio.create_task(call.sink.send(frame))  # never taken
        watch = asyncio.create_task(call.watch(silence_s=10, stall_s=0.2, every_s=0.02))
        async with asyncio.timeout(5):
            events = [e async for e in call.events()]
        await watch
        stuck.cancel()
        return events, socket.closed

    events, closed = asyncio.run(main())
    assert events == [RemoteHangup("media_timeout")]
    assert closed == (1011, "the carrier took nothing for 0.2 s")


def test_a_carrier_that_reads_slowly_but_reads_is_not_cut_off() -> None:
    async def main() -> bool:
        socket = StallingSocket([])
        call = transport(socket)
        frame = AudioFrame(np.zeros(160, np.int16), 8000)
        watch = asyncio.create_task(call.watch(silence_s=10, stall_s=0.2, every_s=0.02))

        async def slow_reader() -> None:  # takes a message every 0.1 s
            for _ in range(8):
                await asyncio.sleep(0.1)
                socket.reading.set()
                await asyncio.sleep(0)
                socket.reading.clear()

        reading = asyncio.create_task(slow_reader())
        for _ in range(8):
            await call.sink.send(frame)
        await reading
        ended = call.ended.is_set()
        watch.cancel()
        await call.aclose()
        return ended

    assert asyncio.run(main()) is False
