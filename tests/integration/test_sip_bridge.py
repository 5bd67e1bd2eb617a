"""A cold transfer on a SIP call, and two SIP calls bridged through voxplane: real RTP
sessions on loopback; the SIP requests go to a scripted requester (a fake endpoint that
records what it is asked to send and answers with a chosen status)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from voxplane.errors import CallError
from voxplane.media.frame import AudioFrame
from voxplane.transports.base import CallInfo, Dtmf
from voxplane.transports.sip.bridge import bridge
from voxplane.transports.sip.call import SipCall
from voxplane.transports.sip.dialog import Dialog
from voxplane.transports.sip.media import RtpPortPool, RtpSession
from voxplane.transports.sip.message import Headers, SipResponse
from voxplane.transports.sip.network import Flow
from voxplane.transports.sip.offer_answer import PCMA, PCMU, Codec, MediaSession

POOL = RtpPortPool(42000, 42998)


class ScriptedRequester:
    """Answers every in-dialog request with ``status``; records (call id, method)."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.sent: list[tuple[str, str, tuple[tuple[str, str], ...]]] = []

    async def request_in_dialog(
        self,
        call: SipCall,
        method: str,
        headers: tuple[tuple[str, str], ...] = (),
        body: bytes = b"",
    ) -> SipResponse:
        self.sent.append((call.info.call_id, method, headers))
        return SipResponse(self.status, "Scripted", Headers(()))

    def forget(self, call: SipCall) -> None:
        pass


def _toward(port: int, codec: Codec) -> MediaSession:
    return MediaSession(codec, 101, "127.0.0.1", port, port + 1, 20, "sendrecv")


class Keys:
    """The keys an RTP session receives."""

    def __init__(self) -> None:
        self.got: list[Dtmf] = []
        self.arrived = asyncio.Event()
        self.call: SipCall | None = None
        """Passes the keys on to this call (as the endpoint wires a call's RTP)."""

    def __call__(self, key: Dtmf) -> None:
        self.got.append(key)
        self.arrived.set()
        if self.call is not None:
            self.call.on_dtmf(key)


async def _leg(
    requester: ScriptedRequester, name: str, codec: Codec = PCMU
) -> tuple[SipCall, RtpSession, Keys]:
    """A call (its RTP session) wired to a far end (another RTP session) on loopback;
    returns the call, the far end, and the keys the far end receives."""
    keys, ours_keys = Keys(), Keys()
    ours = await RtpSession.open(POOL, "127.0.0.1", ours_keys)
    far = await RtpSession.open(POOL, "127.0.0.1", keys)
    ours.update(_toward(far.port, codec))
    far.update(_toward(ours.port, codec))
    ours.start()
    far.start()
    dialog = Dialog(name, "ours", "theirs", "<sip:a@x>", "<sip:b@y>", "sip:b@127.0.0.1:5060")
    call = SipCall(requester, dialog, Flow("UDP", ("127.0.0.1", 5060)), CallInfo(name, "sip"), ours)
    ours_keys.call = call
    return call, far, keys


def _tone(hz: float, ms: int) -> AudioFrame:
    t = np.arange(8 * ms) / 8000
    return AudioFrame((8000 * np.sin(2 * np.pi * hz * t)).astype(np.int16), 8000)


async def _heard(far: RtpSession, frames: int) -> np.ndarray:
    out = []
    async with asyncio.timeout(5.0):
        async for frame in far.source.frames():
            if np.abs(frame.samples.astype(np.int32)).max() > 2000:
                out.append(frame.samples)
            if len(out) >= frames:
                break
    return np.concatenate(out)


def _peak_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    return float(np.argmax(spectrum) * 8000 / len(samples))


def test_bridged_legs_carry_audio_and_keys_both_ways_until_one_hangs_up() -> None:
    async def scenario() -> tuple[float, float, list[Dtmf], list[tuple[str, str]]]:
        requester = ScriptedRequester()
        caller, caller_far, caller_keys = await _leg(requester, "leg-a", PCMU)
        callee, callee_far, callee_keys = await _leg(requester, "leg-b", PCMA)  # codecs differ
        bridged = asyncio.create_task(bridge(caller, callee))
        try:
            await caller_far.sink.send(_tone(440, 600))
            await callee_far.sink.send(_tone(1000, 600))
            to_callee = await _heard(callee_far, 15)
            to_caller = await _heard(caller_far, 15)
            await caller_far.send_dtmf("5")
            async with asyncio.timeout(3.0):
                await callee_keys.arrived.wait()
            caller.on_remote_hangup()  # the caller's BYE arrived
            async with asyncio.timeout(3.0):
                await bridged
        finally:
            bridged.cancel()
            for session in (caller.rtp, caller_far, callee.rtp, callee_far):
                await session.aclose()
        assert not caller_keys.got
        sent = [(call_id, method) for call_id, method, _ in requester.sent]
        return _peak_hz(to_callee), _peak_hz(to_caller), callee_keys.got, sent

    to_callee, to_caller, keys, sent = asyncio.run(scenario())
    assert abs(to_callee - 440) < 10 and abs(to_caller - 1000) < 10
    assert [k.key for k in keys] == ["5"]
    assert sent == [("leg-b", "BYE")]  # the caller hung up; voxplane hung up the callee


def test_an_emergency_target_is_refused_where_the_transfer_runs_and_nothing_is_sent() -> None:
    async def scenario() -> ScriptedRequester:
        requester = ScriptedRequester(202)
        call, far, _ = await _leg(requester, "leg-a")
        bridged: list[str] = []

        async def bridge_transfer(_: SipCall, target: str) -> None:
            bridged.append(target)

        call.bridge_transfer = bridge_transfer
        try:
            for target in ("911", "+112", "sip:999@carrier.example", "tel:+44999"):
                with pytest.raises(CallError, match="emergency"):
                    await call.transfer(target)
        finally:
            await call.rtp.aclose()
            await far.aclose()
        assert bridged == []
        return requester

    assert asyncio.run(scenario()).sent == []


@pytest.mark.parametrize("status", [405, 501, 603])
def test_a_refused_refer_hands_the_transfer_to_the_bridge(status: int) -> None:
    async def scenario(with_bridge: bool) -> tuple[list[str], list[str]]:
        requester = ScriptedRequester(status)
        call, far, _ = await _leg(requester, "leg-a")
        bridged: list[str] = []

        async def bridge_transfer(_: SipCall, target: str) -> None:
            bridged.append(target)

        if with_bridge:
            call.bridge_transfer = bridge_transfer
        try:
            if with_bridge:
                await call.transfer("+14155550100")
            else:
                with pytest.raises(CallError, match=f"refused: {status}"):
                    await call.transfer("+14155550100")
        finally:
            await call.rtp.aclose()
            await far.aclose()
        refer = [dict(h).get("Refer-To", "") for _, m, h in requester.sent if m == "REFER"]
        return refer, bridged

    refer, bridged = asyncio.run(scenario(with_bridge=True))
    assert refer == ["<sip:+14155550100@127.0.0.1:5060>"] and bridged == ["+14155550100"]
    refer, bridged = asyncio.run(scenario(with_bridge=False))
    assert len(refer) == 1 and bridged == []
