"""The runtime's adapter of Starlette's websocket: closing never waits long on a peer that
does not read (the close frame cannot be sent while the socket's buffer is full)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from starlette.websockets import WebSocket

from voxplane.runtime import media_streams
from voxplane.runtime.media_streams import StarletteSocket


class StuckWebSocket:
    """A websocket whose peer reads nothing: every send (the close frame too) waits."""

    def __init__(self) -> None:
        self.closing: list[tuple[int, str]] = []

    async def close(self, code: int, reason: str) -> None:
        self.closing.append((code, reason))
        await asyncio.Event().wait()


def test_closing_gives_up_on_a_peer_that_does_not_read(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(media_streams, "CLOSE_TIMEOUT_S", 0.05)
    stuck = StuckWebSocket()
    socket = StarletteSocket(cast(WebSocket, cast(Any, stuck)))

    async def main() -> None:
        async with asyncio.timeout(2):
            await socket.close(1011, "gone")
            await socket.close(1011, "gone")  # once only
        await socket.send("nothing goes out after the close")

    asyncio.run(main())
    assert stuck.closing == [(1011, "gone")]
    assert "close frame not sent" in caplog.text
