"""The transaction layer on the event loop (sip/transactions.py), with short timers and a
recording ``send`` (no sockets): retransmissions absorbed, final responses retransmitted
until the ACK, client requests retransmitted and timed out, non-2xx ACKed, overflow."""

from __future__ import annotations

import asyncio

import pytest

from voxplane.errors import CallError
from voxplane.transports.sip import transactions as layer_module
from voxplane.transports.sip.message import SipRequest, SipResponse, make_response, parse_message
from voxplane.transports.sip.network import Flow
from voxplane.transports.sip.transaction import Timers
from voxplane.transports.sip.transactions import Transactions

PEER = Flow("UDP", ("127.0.0.1", 5062))
T1 = 0.01  # 64×T1 = 0.64 s


def _request(method: str, branch: str, *, to_tag: str = "", cseq: int = 1) -> SipRequest:
    to = "<sip:+15550100@127.0.0.1>" + (f";tag={to_tag}" if to_tag else "")
    text = (
        f"{method} sip:+15550100@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5062;branch={branch}\r\n"
        "From: <sip:+14155550123@127.0.0.1>;tag=caller1\r\n"
        f"To: {to}\r\nCall-ID: call-1\r\nCSeq: {cseq} {method}\r\n"
        "Contact: <sip:caller@127.0.0.1:5062>\r\nContent-Length: 0\r\n\r\n"
    )
    message = parse_message(text.encode())
    assert isinstance(message, SipRequest)
    return message


class Wire:
    """What the layer sent and delivered."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.delivered: list[SipRequest] = []
        self.late: list[SipResponse] = []

    def send(self, flow: Flow, data: bytes) -> None:
        self.sent.append(data.split(b"\r\n", 1)[0].decode())

    def layer(self) -> Transactions:
        return Transactions(
            self.send,
            lambda r, f: self.delivered.append(r),
            self.late.append,
            Timers(T1, 4 * T1, 5 * T1),
        )


def test_an_invite_is_delivered_once_and_its_2xx_resent_until_the_ack() -> None:
    async def scenario() -> tuple[Wire, bool]:
        wire = Wire()
        layer = wire.layer()
        invite = _request("INVITE", "z9hG4bKa")
        layer.on_request(invite, PEER)
        layer.on_request(invite, PEER)  # a retransmission
        assert len(wire.delivered) == 1
        layer.respond(invite, make_response(invite, 200, to_tag="ours"), PEER)
        await asyncio.sleep(8 * T1)
        # the ACK of a 2xx has its own branch: found through the dialog
        layer.on_request(_request("ACK", "z9hG4bKb", to_tag="ours"), PEER)
        acked = await layer.acked(invite)
        before = len(wire.sent)
        await asyncio.sleep(8 * T1)
        assert len(wire.sent) == before  # acknowledged: no more 200s
        return wire, acked

    wire, acked = asyncio.run(scenario())
    assert acked
    assert wire.sent[:2] == ["SIP/2.0 100 Trying"] * 2
    assert wire.sent.count("SIP/2.0 200 OK") >= 3  # sent, then T1, 2·T1, 4·T1 …


def test_a_2xx_never_acknowledged_is_reported_after_64_t1() -> None:
    async def scenario() -> bool:
        wire = Wire()
        layer = wire.layer()
        invite = _request("INVITE", "z9hG4bKc")
        layer.on_request(invite, PEER)
        layer.respond(invite, make_response(invite, 200, to_tag="ours"), PEER)
        async with asyncio.timeout(2.0):
            return await layer.acked(invite)

    assert asyncio.run(scenario()) is False


def test_a_refusal_is_resent_until_its_ack_and_a_retransmitted_bye_answered_again() -> None:
    async def scenario() -> Wire:
        wire = Wire()
        layer = wire.layer()
        invite = _request("INVITE", "z9hG4bKd")
        layer.on_request(invite, PEER)
        layer.respond(invite, make_response(invite, 486, to_tag="ours"), PEER)
        await asyncio.sleep(4 * T1)
        layer.on_request(_request("ACK", "z9hG4bKd"), PEER)  # same branch as the INVITE
        refusals = wire.sent.count("SIP/2.0 486 Busy Here")
        await asyncio.sleep(8 * T1)
        assert wire.sent.count("SIP/2.0 486 Busy Here") == refusals >= 2
        bye = _request("BYE", "z9hG4bKe", to_tag="ours", cseq=2)
        layer.on_request(bye, PEER)
        layer.respond(bye, make_response(bye, 200), PEER)
        layer.on_request(bye, PEER)
        return wire

    wire = asyncio.run(scenario())
    assert wire.sent[-2:] == ["SIP/2.0 200 OK"] * 2
    assert [r.method for r in wire.delivered] == ["INVITE", "BYE"]


def test_client_requests_are_retransmitted_then_time_out_and_a_refused_invite_is_acked() -> None:
    async def scenario() -> tuple[Wire, int]:
        wire = Wire()
        layer = wire.layer()
        options = _request("OPTIONS", "z9hG4bKf")
        with pytest.raises(CallError, match="timed out"):
            await layer.transact(PEER, options)
        options_sent = len(wire.sent)
        invite = _request("INVITE", "z9hG4bKg")
        pending = asyncio.ensure_future(layer.transact(PEER, invite))
        await asyncio.sleep(0)
        busy = make_response(invite, 486, to_tag="callee")
        layer.on_response(busy)
        response = await pending
        layer.on_response(busy)  # retransmitted: ACKed again, not delivered again
        return wire, response.status if options_sent > 3 else 0

    wire, status = asyncio.run(scenario())
    assert status == 486
    assert wire.sent.count("ACK sip:+15550100@127.0.0.1 SIP/2.0") == 2


def test_when_the_table_is_full_of_live_transactions_new_requests_get_a_stateless_503(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(layer_module, "MAX_TRANSACTIONS", 2)

    async def scenario() -> Wire:
        wire = Wire()
        layer = wire.layer()
        for branch in ("z9hG4bK1", "z9hG4bK2", "z9hG4bK3"):
            layer.on_request(_request("OPTIONS", branch), PEER)  # none answered yet
        return wire

    wire = asyncio.run(scenario())
    assert wire.sent == ["SIP/2.0 503 Service Unavailable"]
    assert len(wire.delivered) == 2
