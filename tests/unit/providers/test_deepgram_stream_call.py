"""A whole call through the real session with Deepgram's live stream as its STT, against a
loopback server that plays Deepgram on the simulated caller's tones (virtual time)."""

from __future__ import annotations

import json

import numpy as np
from _provider_docs import DEEPGRAM_METADATA, deepgram_results, dumps
from _wire_servers import Seen, ws_server
from websockets.asyncio.server import ServerConnection

from voxplane.agents.schema import CallConfig, TurnConfig
from voxplane.pipeline.records import CallResult
from voxplane.pipeline.session import CallParts, CallSession
from voxplane.providers.cloud.common import Endpoint
from voxplane.providers.cloud.deepgram_stream import DeepgramStreamingSTT
from voxplane.testing.clock import run_virtual
from voxplane.testing.fakes import ScriptedBrain, ScriptedSTT, ScriptedTTS, ToneVad, caller_speech
from voxplane.transports.simulated import CallerTurn, SimulatedCaller

RATE = 16_000
SAID = ["Book a cleaning.", "Tuesday at ten.", "Thank you."]


class ToneDeepgram:
    """Deepgram hearing :func:`caller_speech` tones: on ``Finalize`` (and ``CloseStream``)
    the audio not yet final becomes final results, the words spread over the tone heard,
    the last result ``from_finalize``."""

    def __init__(self, seen: Seen, *, drop_at_turn: int | None = None) -> None:
        self.seen = seen
        self.decoder = ScriptedSTT(SAID)
        self.drop_at_turn = drop_at_turn
        """On the first socket, close with 1011 as the caller's turn of this index begins."""

    async def __call__(self, connection: ServerConnection) -> None:
        audio = bytearray()
        final_to = 0  # samples
        first_socket, turns = len(self.seen.paths) == 1, 0
        async for message in connection:
            if isinstance(message, bytes):
                audio += message
                loud = np.abs(np.frombuffer(message, "<i2").astype(np.int32)).max() > 300
                if first_socket and loud and turns == self.drop_at_turn:
                    await connection.close(1011, "internal server error")
                    return
                continue
            kind = json.loads(message)["type"]
            self.seen.messages.append(kind)
            stretch = np.frombuffer(bytes(audio), "<i2")[final_to:]
            loud = np.flatnonzero(np.abs(stretch.astype(np.int32)) > 300)
            text = self.decoder.hear(stretch)
            if text and len(loud):
                start, end = (final_to + loud[0]) / RATE, (final_to + loud[-1]) / RATE
                words = deepgram_results(text, is_final=True, start=start, duration=end - start)
                await connection.send(dumps(words))
            turns += bool(text)
            start, final_to = final_to / RATE, len(audio) // 2
            rest = deepgram_results(
                "", is_final=True, start=start, duration=final_to / RATE - start
            )
            await connection.send(dumps({**rest, "from_finalize": kind == "Finalize"}))
            if kind == "CloseStream":
                await connection.send(dumps(DEEPGRAM_METADATA))
                await connection.close()
                return


def test_a_call_streams_every_turn_over_one_socket() -> None:
    seen = Seen()
    turns = [CallerTurn(caller_speech(i, ms), RATE) for i, ms in enumerate([1000, 800, 600])]

    async def main() -> CallResult:
        async with ws_server(ToneDeepgram(seen), seen) as url:
            stt = DeepgramStreamingSTT(Endpoint("dg-key", url, 2.0))
            brain = ScriptedBrain("Hello.", ["Which day?", "Booked.", "Bye."], hang_up_after=3)
            parts = CallParts(stt, brain, ScriptedTTS(), ToneVad())
            session = CallSession(
                parts, SimulatedCaller(turns), TurnConfig(vad="energy"), CallConfig()
            )
            return await session.run()

    result = run_virtual(main())
    assert [t.text for t in result.turns] == [
        "Hello.",
        "Book a cleaning.",
        "Which day?",
        "Tuesday at ten.",
        "Booked.",
        "Thank you.",
        "Bye.",
    ]
    assert len(seen.paths) == 1  # one socket for the whole call
    assert seen.messages.count("Finalize") == 3 and seen.messages[-1] == "CloseStream"
    assert not result.provider_errors
    assert result.stt_audio_ms == result.caller_audio_ms > 0


def test_a_socket_dropped_mid_turn_fails_that_turn_and_the_call_goes_on() -> None:
    seen = Seen()
    turns = [CallerTurn(caller_speech(i, ms), RATE) for i, ms in enumerate([1000, 800, 600])]

    async def main() -> CallResult:
        async with ws_server(ToneDeepgram(seen, drop_at_turn=1), seen) as url:
            stt = DeepgramStreamingSTT(Endpoint("dg-key", url, 2.0))
            brain = ScriptedBrain("Hello.", ["Which day?", "Booked."], hang_up_after=2)
            parts = CallParts(stt, brain, ScriptedTTS(), ToneVad())
            caller = SimulatedCaller(turns)
            session = CallSession(parts, caller, TurnConfig(vad="energy"), CallConfig())
            return await session.run()

    result = run_virtual(main())
    assert result.provider_errors == {"stt": 1}  # "Tuesday at ten." was cut off
    said = [t.text for t in result.turns if t.role == "user"]
    assert said == ["Book a cleaning.", "Thank you."]
    assert len(seen.paths) == 2  # the next audio opened a new socket
