"""An LLM agent's tokens reach the call's usage and the tenant's day: the call runs through
the runtime (SQLite and PostgreSQL) with its brain on voxplane's ``openai`` provider,
against a loopback server streaming OpenAI's documented chunks with ``usage`` at the end
(``stream_options.include_usage``). The post-call analysis asks the same model, and its
tokens count too."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from test_runtime import caller, inbound, runtime_of, tenant_with_number

from conftest import make_settings
from voxplane.runtime.factory import ProviderFactory
from voxplane.services.platform import open_platform
from voxplane.services.principal import system_principal

PROMPT_TOKENS, COMPLETION_TOKENS = 41, 6


def _chunk(delta: dict[str, Any], usage: dict[str, int] | None = None) -> bytes:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "fake",
        "choices": [{"index": 0, "delta": delta, "finish_reason": None}] if delta else [],
        "usage": usage,
    }
    return f"data: {json.dumps(body)}\n\n".encode()


BOOKED: list[dict[str, Any]] = [
    {"role": "assistant", "content": "Sure, "},
    {"content": "you are booked."},
]


@dataclass
class ChatServer:
    """Answers the n-th chat completion with ``script[n]``'s deltas (the last one again
    once the script is used up: by default "Sure, you are booked."), then its usage."""

    script: list[list[dict[str, Any]]] = field(default_factory=lambda: [BOOKED])
    requests: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0

    async def start(self) -> asyncio.Server:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        return server

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"POST "):  # saving the agent checks the server answers
            writer.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
            await writer.drain()
            writer.close()
            return
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        self.requests.append(json.loads(await reader.readexactly(length)))
        usage = {
            "prompt_tokens": PROMPT_TOKENS,
            "completion_tokens": COMPLETION_TOKENS,
            "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
        }
        deltas = self.script[min(len(self.requests), len(self.script)) - 1]
        body = b"".join(
            [*(_chunk(delta) for delta in deltas), _chunk({}, usage), b"data: [DONE]\n\n"]
        )
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            + f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()


def llm_agent(port: int) -> dict[str, Any]:
    return {
        "name": "llm-booking",
        "stt": {"provider": "scripted", "transcripts": ["I would like to book a cleaning."]},
        "tts": {"provider": "scripted", "ms_per_word": 60},
        "turn": {"vad": "energy"},
        "brain": {
            "type": "llm",
            "provider": "openai",
            "model": "fake",
            "base_url": f"http://127.0.0.1:{port}/v1",
            "prompt": "You book cleanings.",
            "first_message": "Hello, Acme Dental.",
        },
        "analysis": {"summary": True},
    }


def test_an_llm_calls_tokens_are_its_usage_analysis_included(
    database_url: str, tmp_path: Path
) -> None:
    # the deployment lets agents reach private networks: the model is on loopback
    settings = make_settings(database_url, tmp_path, webhook_allow_private_networks=True)

    async def main() -> tuple[Any, Any, ChatServer]:
        chat = ChatServer()
        server = await chat.start()
        try:
            async with open_platform(settings) as platform:
                factory = ProviderFactory(allow_private_networks=True)  # the loopback model
                runtime = runtime_of(platform, factory)
                tenant, number = await tenant_with_number(platform, agent=llm_agent(chat.port))
                outcome = await runtime.run(await runtime.admit(inbound(number)), caller(900))
                who = system_principal(tenant)
                call = await platform.calls.get(who, outcome.call_id)
                today = datetime.now(UTC).date()
                [day] = await platform.usage.days(who, today, today)
                return call, day, chat
        finally:
            server.close()
            await server.wait_closed()

    call, day, chat = asyncio.run(main())
    assert [t.text for t in call.turns][1:3] == [
        "I would like to book a cleaning.",
        "Sure, you are booked.",
    ]
    assert all(r["stream_options"] == {"include_usage": True} for r in chat.requests)
    # the caller's turn, then the analysis: each request's usage, no more, no less
    assert len(chat.requests) == 2
    assert "summary" in json.dumps(chat.requests[1]["messages"]).lower()
    per_request = PROMPT_TOKENS + COMPLETION_TOKENS
    assert call.usage.llm_tokens == 2 * per_request
    assert day.llm_tokens == 2 * per_request
