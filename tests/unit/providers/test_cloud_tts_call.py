"""A call on Cartesia speaks every sentence over one websocket, and the call's end closes
it: ``run_call`` against a loopback server replaying Cartesia's documented messages."""

from __future__ import annotations

import asyncio
import json

from _provider_docs import cartesia_chunk, cartesia_done, dumps, pcm_bytes
from _wire_servers import Seen, ws_server
from websockets.asyncio.server import ServerConnection

from voxplane.agents.schema import AgentConfig
from voxplane.runtime.local import run_call
from voxplane.testing.fakes import tone
from voxplane.transports.simulated import CallerTurn, SimulatedCaller

KEY = "test-key-5f1c9a0e7b"


def agent(url: str) -> AgentConfig:
    return AgentConfig.model_validate(
        {
            "name": "cartesia-call",
            "stt": {"provider": "scripted", "transcripts": ["I'd like to book."]},
            "tts": {"provider": "cartesia", "base_url": url},
            "turn": {"vad": "energy"},
            "brain": {
                "type": "scripted",
                "greeting": "Hello there. How can I help?",
                "reply": "Sure thing. Goodbye.",
                "hang_up_after": 1,
            },
        }
    )


def test_a_call_speaks_over_one_socket_and_closes_it_at_the_end() -> None:
    seen = Seen()
    close_codes: list[int | None] = []
    closed = asyncio.Event()

    async def provider(connection: ServerConnection) -> None:
        async for raw in connection:
            request = json.loads(raw)
            seen.messages.append(raw)
            context = request["context_id"]
            await connection.send(dumps(cartesia_chunk(pcm_bytes(200, 16_000), context)))
            await connection.send(dumps(cartesia_done(context)))
        close_codes.append(connection.close_code)
        closed.set()

    async def main() -> list[str]:
        async with ws_server(provider, seen) as url:
            caller = SimulatedCaller([CallerTurn(tone(800), 16_000)])
            call = run_call(agent(url), None, caller, keys={"tts": KEY})
            result = await asyncio.wait_for(call, 30.0)
            await asyncio.wait_for(closed.wait(), 2.0)  # before the server shuts down
            return [turn.text for turn in result.turns if turn.role == "agent"]

    said = asyncio.run(main())
    assert said == ["Hello there. How can I help?", "Sure thing. Goodbye."]
    transcripts = [json.loads(m)["transcript"] for m in seen.messages]
    assert " ".join(transcripts) == " ".join(said) and len(transcripts) >= 3
    assert len(seen.paths) == 1  # one handshake for the call
    assert close_codes == [1000]  # closed by the call's end, not by the server shutting down
