"""Two RTP sessions talking over loopback: audio both ways through the pacer and the jitter
buffer, RFC 4733 keys out of one and in to the other, G.711 μ-law and A-law."""

from __future__ import annotations

import asyncio
import contextlib

import numpy as np
import pytest

from voxplane.media.frame import AudioFrame
from voxplane.transports.base import Dtmf
from voxplane.transports.sip.media import RtpPortPool, RtpSession
from voxplane.transports.sip.offer_answer import PCMA, PCMU, Codec, MediaSession


def _toward(port: int, codec: Codec) -> MediaSession:
    return MediaSession(codec, 101, "127.0.0.1", port, port + 1, 20, "sendrecv")


@pytest.mark.parametrize("codec", [PCMU, PCMA], ids=["pcmu", "pcma"])
def test_audio_and_keys_cross_between_two_sessions(codec: Codec) -> None:
    async def scenario() -> tuple[np.ndarray, list[Dtmf], float]:
        pool = RtpPortPool(41000, 41998)
        keys: list[Dtmf] = []
        a = await RtpSession.open(pool, "127.0.0.1", lambda key: None)
        b = await RtpSession.open(pool, "127.0.0.1", keys.append)
        try:
            a.update(_toward(b.port, codec))
            b.update(_toward(a.port, codec))
            a.start()
            b.start()
            t = np.arange(8000 * 6 // 10) / 8000
            tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
            await a.sink.send(AudioFrame(tone, 8000))
            buffered = a.sink.buffered_ms()
            await asyncio.wait_for(a.sink.wait_for_playout(), 2.0)
            await a.send_dtmf("12#")
            heard = []
            async with asyncio.timeout(3.0):
                async for frame in b.source.frames():
                    heard.append(frame.samples)
                    if len(keys) == 3 and len(heard) > 60:
                        break
            return np.concatenate(heard), keys, buffered
        finally:
            await a.aclose()
            await b.aclose()

    heard, keys, buffered = asyncio.run(scenario())
    assert buffered == 600.0  # 30 frames queued for the pacer
    assert [k.key for k in keys] == ["1", "2", "#"]
    assert all(k.duration_ms >= 80 for k in keys)
    spectrum = np.abs(np.fft.rfft(heard.astype(np.float64)))
    peak_hz = np.argmax(spectrum) * 8000 / len(heard)
    assert abs(peak_hz - 440) < 5, peak_hz
    assert np.sum(np.abs(heard.astype(np.int32)) > 4000) > 8000 * 0.4  # most of the tone came


def test_the_port_pool_refuses_a_bad_range_and_runs_out_cleanly() -> None:
    with pytest.raises(ValueError):
        RtpPortPool(80, 2000)

    async def scenario() -> None:
        pool = RtpPortPool(41500, 41504)  # room for two sessions
        sessions = [await RtpSession.open(pool, "127.0.0.1", lambda key: None) for _ in range(2)]
        with pytest.raises(OSError):
            await RtpSession.open(pool, "127.0.0.1", lambda key: None)
        await sessions[0].aclose()
        sessions[0] = await RtpSession.open(pool, "127.0.0.1", lambda key: None)
        for session in sessions:
            await session.aclose()

    asyncio.run(scenario())


def test_a_stranger_cannot_inject_keys_once_the_caller_is_heard() -> None:
    async def scenario() -> list[str]:
        import socket

        from voxplane.media.dtmf import dtmf_plan
        from voxplane.media.rtp import RtpSender

        pool = RtpPortPool(42000, 42998)
        keys: list[Dtmf] = []
        caller = await RtpSession.open(pool, "127.0.0.1", lambda key: None)
        agent = await RtpSession.open(pool, "127.0.0.1", keys.append, "127.0.0.1")
        stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        stranger.bind(("127.0.0.1", 0))
        try:
            caller.update(_toward(agent.port, PCMU))
            agent.update(_toward(caller.port, PCMU))
            caller.start()
            agent.start()
            await asyncio.sleep(0.2)  # the caller's audio arrives: its address is latched
            sender = RtpSender(101)
            for step in dtmf_plan("9"):
                packet = sender.event(101, 1234, step.payload, step.marker)
                stranger.sendto(packet.encode(), ("127.0.0.1", agent.port))
            await caller.send_dtmf("5")
            await asyncio.sleep(0.6)
            return [k.key for k in keys]
        finally:
            stranger.close()
            await caller.aclose()
            await agent.aclose()

    assert asyncio.run(scenario()) == ["5"]


def test_sender_reports_go_to_the_rtcp_port(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from voxplane.media.rtcp import SenderReport, SourceDescription, parse_rtcp
    from voxplane.transports.sip import media

    monkeypatch.setattr(media, "RTCP_INTERVAL_S", 0.2)

    async def scenario() -> list[object]:
        pool = RtpPortPool(43000, 43998)
        rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtcp.bind(("127.0.0.1", 0))
        rtcp.setblocking(False)
        session = await RtpSession.open(pool, "127.0.0.1", lambda key: None)
        try:
            port = rtcp.getsockname()[1]
            session.update(MediaSession(PCMU, 101, "127.0.0.1", port - 1, port, 20, "sendrecv"))
            session.start()
            loop = asyncio.get_running_loop()
            data = await asyncio.wait_for(loop.sock_recv(rtcp, 2048), 2.0)
            return list(parse_rtcp(data))
        finally:
            rtcp.close()
            await session.aclose()

    report, sdes = asyncio.run(scenario())
    assert isinstance(report, SenderReport) and report.packet_count > 0
    assert report.octet_count == 160 * report.packet_count
    assert isinstance(sdes, SourceDescription) and sdes.ssrc == report.ssrc


def test_a_line_without_rtp_is_reported_dead_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from voxplane.transports.sip import media

    monkeypatch.setattr(media, "MEDIA_TIMEOUT_S", 0.3)

    async def scenario() -> int:
        pool = RtpPortPool(44000, 44998)
        fired: list[float] = []
        session = await RtpSession.open(pool, "127.0.0.1", lambda key: None)
        session.on_media_timeout = lambda: fired.append(1.0)
        try:
            session.update(_toward(44999 - 1, PCMU))  # nobody sends from there
            session.start()
            await asyncio.sleep(1.0)
            return len(fired)
        finally:
            await session.aclose()

    assert asyncio.run(scenario()) == 1


@pytest.mark.parametrize("listening", [True, False], ids=["agent", "bridge"])
def test_caller_audio_reaches_the_agent_as_it_arrives_and_a_bridge_on_the_clock(
    listening: bool,
) -> None:
    """The session's clocks are not started here: only a frame's arrival can hand it on."""

    async def scenario() -> list[int]:
        import socket

        from voxplane.media.rtp import RtpSender

        pool = RtpPortPool(43000, 43998)
        agent = await RtpSession.open(pool, "127.0.0.1", lambda key: None, "127.0.0.1")
        caller = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        caller.bind(("127.0.0.1", 0))
        try:
            agent.update(_toward(caller.getsockname()[1], PCMU))
            agent.listening = listening
            sender = RtpSender(0)
            for level in (0x10, 0x20, 0x30):  # three frames, in order
                packet = sender.audio(bytes([level]) * 160)
                caller.sendto(packet.encode(), ("127.0.0.1", agent.port))
            heard: list[int] = []
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.5):
                    while len(heard) < 3:
                        frame = await agent.received.get()
                        assert frame is not None
                        heard.append(int(frame.samples[0]))
            return heard
        finally:
            caller.close()
            await agent.aclose()

    heard = asyncio.run(scenario())
    if listening:
        from voxplane.media.g711 import ulaw_decode

        assert heard == [int(ulaw_decode(bytes([b]))[0]) for b in (0x10, 0x20, 0x30)]
    else:
        assert heard == []  # held for its playout time, which only the clock reaches


def test_one_clock_steps_all_sessions_ends_a_failing_ones_call_stops_when_none_is_left() -> None:
    def clock_tasks() -> list[asyncio.Task[object]]:
        return [t for t in asyncio.all_tasks() if "MediaClock" in t.get_coro().__qualname__]  # type: ignore[union-attr]

    async def scenario() -> tuple[list[int], int, int, list[bool]]:
        pool = RtpPortPool(44000, 44998)
        sessions = [await RtpSession.open(pool, "127.0.0.1", lambda key: None) for _ in range(3)]
        ticks = [0, 0, 0]

        def counting(index: int) -> object:
            def tick(now: float) -> None:
                ticks[index] += 1
                if index == 0 and ticks[0] == 2:
                    raise RuntimeError("a broken session")

            return tick

        for index, session in enumerate(sessions):
            session.tick = counting(index)  # type: ignore[method-assign]
            session.start()
        await asyncio.sleep(0.25)
        stepped, running = list(ticks), len(clock_tasks())
        # the dropped session's caller audio has ended (its call ends); the others' has not
        ended = [not s.received.empty() and s.received.get_nowait() is None for s in sessions]
        for session in sessions:
            await session.aclose()
        await asyncio.sleep(0.05)
        return stepped, running, len(clock_tasks()), ended

    ticks, running, left, ended = asyncio.run(scenario())
    assert ended == [True, False, False]
    assert running == 1  # one task for the three sessions
    assert ticks[0] == 2  # dropped after it raised
    assert ticks[1] == ticks[2] > 2  # the others went on, stepped together
    assert left == 0
