"""RFC 3261 §17 transactions as pure state machines, driven by a test clock."""

from __future__ import annotations

import pytest
from _sip_rfc import RFC3665_F1_INVITE, RFC3665_F3_OK, RFC3665_F4_ACK, RFC3665_F5_BYE
from hypothesis import given, settings
from hypothesis import strategies as st

from voxplane.transports.sip.message import (
    SipRequest,
    SipResponse,
    make_response,
    parse_message,
)
from voxplane.transports.sip.transaction import (
    Action,
    Deliver,
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    Send,
    Terminated,
    Timeout,
    cancelled_key,
    client_key,
    make_ack,
    make_cancel,
    new_branch,
    server_key,
)


def _request(raw: bytes) -> SipRequest:
    message = parse_message(raw)
    assert isinstance(message, SipRequest)
    return message


INVITE = _request(RFC3665_F1_INVITE)
BYE = _request(RFC3665_F5_BYE)


Machine = (
    InviteServerTransaction
    | NonInviteServerTransaction
    | InviteClientTransaction
    | NonInviteClientTransaction
)


def _run_timers(tx: Machine, until: float) -> list[tuple[float, Action]]:
    """Fire timers at their deadlines until ``until``; returns (time, action) pairs."""
    fired: list[tuple[float, Action]] = []
    while (deadline := tx.next_deadline) is not None and deadline <= until:
        fired += [(deadline, a) for a in tx.on_timer(deadline)]
    return fired


def _sent_times(fired: list[tuple[float, Action]]) -> list[float]:
    return [round(t, 3) for t, a in fired if isinstance(a, Send)]


def test_invite_server_sends_trying_and_retransmits_2xx_until_ack() -> None:
    tx = InviteServerTransaction(INVITE)
    start = tx.start(now=0.0)
    assert isinstance(start[0], Send) and start[0].message.status == 100  # type: ignore[union-attr]
    assert start[1] == Deliver(INVITE)
    assert tx.on_message(INVITE, 0.1) == [Send(start[0].message)]  # retransmitted INVITE
    ok = make_response(INVITE, 200, to_tag="8321234356")
    assert tx.respond(ok, 1.0) == [Send(ok)]
    fired = _run_timers(tx, until=13.0)
    # T1 doubling, capped at T2 (4 s): +0.5, +1, +2, +4, +4 …
    assert _sent_times(fired) == [1.5, 2.5, 4.5, 8.5, 12.5]
    ack = _request(RFC3665_F4_ACK)
    assert server_key(ack) != server_key(INVITE)  # new branch: found through the dialog
    assert tx.acknowledged_by(ack)
    assert tx.on_message(ack, 13.5) == [Deliver(ack), Terminated()]
    assert tx.next_deadline is None


def test_invite_server_without_ack_times_out_so_the_uas_sends_bye() -> None:
    tx = InviteServerTransaction(INVITE, reliable=True)
    tx.start(0.0)
    tx.respond(make_response(INVITE, 200, to_tag="x"), 0.0)
    fired = _run_timers(tx, until=100.0)
    assert [a for _, a in fired if not isinstance(a, Send)] == [Timeout("no ACK"), Terminated()]
    assert fired[-1][0] == 32.0  # 64 × T1
    assert len(_sent_times(fired)) > 5  # 2xx retransmitted even over TCP (§13.3.1.4)


def test_invite_server_non_2xx_retransmits_on_udp_until_ack_then_waits_timer_i() -> None:
    tx = InviteServerTransaction(INVITE)
    tx.start(0.0)
    busy = make_response(INVITE, 486, to_tag="x")
    tx.respond(busy, 0.0)
    fired = _run_timers(tx, until=2.0)
    assert _sent_times(fired) == [0.5, 1.5]
    ack = make_ack(INVITE, busy)
    assert server_key(ack) == server_key(INVITE)
    assert tx.on_message(ack, 2.0) == []
    assert tx.state == "confirmed"
    assert tx.on_timer(6.9) == [] and tx.on_timer(7.0) == [Terminated()]


def test_invite_server_non_2xx_without_ack_fires_timer_h() -> None:
    tx = InviteServerTransaction(INVITE, reliable=True)
    tx.start(0.0)
    tx.respond(make_response(INVITE, 488), 0.0)
    fired = _run_timers(tx, until=60.0)
    assert [a for _, a in fired] == [Timeout("H"), Terminated()]


def test_reliable_confirmed_invite_server_ends_at_once() -> None:
    tx = InviteServerTransaction(INVITE, reliable=True)
    tx.start(0.0)
    busy = make_response(INVITE, 486)
    tx.respond(busy, 0.0)
    assert tx.on_message(make_ack(INVITE, busy), 0.1) == [Terminated()]


def test_non_invite_server_repeats_its_last_response() -> None:
    tx = NonInviteServerTransaction(BYE)
    assert tx.start(0.0) == [Deliver(BYE)]
    assert tx.on_message(BYE, 0.1) == []  # trying: nothing to repeat yet
    ok = make_response(BYE, 200)
    assert tx.respond(ok, 0.2) == [Send(ok)]
    assert tx.on_message(BYE, 1.0) == [Send(ok)]
    assert tx.on_timer(32.19) == [] and tx.on_timer(32.2) == [Terminated()]
    reliable = NonInviteServerTransaction(BYE, reliable=True)
    reliable.start(0.0)
    assert reliable.respond(ok, 0.0) == [Send(ok), Terminated()]


def test_invite_client_timer_a_doubles_and_timer_b_gives_up() -> None:
    tx = InviteClientTransaction(INVITE)
    assert tx.start(0.0) == [Send(INVITE)]
    fired = _run_timers(tx, until=40.0)
    assert _sent_times(fired) == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert [a for _, a in fired][-2:] == [Timeout("B"), Terminated()]
    assert fired[-1][0] == 32.0


def test_invite_client_acks_non_2xx_itself_and_repeats_the_ack() -> None:
    tx = InviteClientTransaction(INVITE)
    tx.start(0.0)
    ringing = make_response(INVITE, 180, to_tag="b")
    assert tx.on_message(ringing, 0.2) == [Deliver(ringing)]
    assert tx.next_deadline is None  # proceeding: no retransmission, no Timer B
    busy = make_response(INVITE, 486, to_tag="b")
    actions = tx.on_message(busy, 1.0)
    ack = make_ack(INVITE, busy)
    assert actions == [Send(ack), Deliver(busy)]
    assert (ack.vias, ack.to.tag, str(ack.cseq)) == (INVITE.vias, "b", "1 ACK")
    assert tx.on_message(busy, 2.0) == [Send(ack)]
    assert tx.on_timer(33.0) == [Terminated()]


def test_invite_client_passes_every_2xx_up_while_accepted() -> None:
    ok = parse_message(RFC3665_F3_OK)
    assert isinstance(ok, SipResponse)
    assert client_key(ok) == (INVITE.vias[0].branch, "INVITE")
    tx = InviteClientTransaction(INVITE, reliable=True)
    tx.start(0.0)
    assert tx.on_message(ok, 0.1) == [Deliver(ok)]
    assert tx.on_message(ok, 0.6) == [Deliver(ok)]  # the TU ACKs the retransmission again
    assert tx.on_timer(32.1) == [Terminated()]


def test_non_invite_client_timer_e_caps_at_t2_and_timer_f_gives_up() -> None:
    tx = NonInviteClientTransaction(BYE)
    tx.start(0.0)
    fired = _run_timers(tx, until=40.0)
    assert _sent_times(fired)[:6] == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5]
    assert [a for _, a in fired][-2:] == [Timeout("F"), Terminated()]


def test_non_invite_client_proceeding_retransmits_every_t2_then_completes() -> None:
    tx = NonInviteClientTransaction(BYE)
    tx.start(0.0)
    trying = make_response(BYE, 100)
    assert tx.on_message(trying, 0.1) == [Deliver(trying)]
    fired = _run_timers(tx, until=9.0)
    assert _sent_times(fired) == [0.5, 4.5, 8.5]
    ok = make_response(BYE, 200)
    assert tx.on_message(ok, 9.0) == [Deliver(ok)]
    assert tx.on_message(ok, 9.1) == []  # retransmitted final absorbed
    assert tx.on_timer(14.0) == [Terminated()]


def test_cancel_shares_the_invite_branch() -> None:
    cancel = make_cancel(INVITE)
    assert cancel.vias == INVITE.vias and str(cancel.cseq) == "1 CANCEL"
    assert cancelled_key(cancel) == server_key(INVITE)
    assert new_branch().startswith("z9hG4bK") and new_branch() != new_branch()


_events = st.lists(
    st.tuples(
        st.sampled_from(["invite", "ack", "1xx", "2xx", "4xx", "timer"]),
        st.floats(0, 5),
    ),
    max_size=25,
)


@settings(max_examples=200)
@given(_events, st.booleans())
def test_any_event_order_keeps_the_machines_consistent(
    events: list[tuple[str, float]], reliable: bool
) -> None:
    """Whatever arrives in whatever order: no exception, at most one Terminated, time moves on."""
    server = InviteServerTransaction(INVITE, reliable=reliable)
    client = InviteClientTransaction(INVITE, reliable=reliable)
    now = 0.0
    actions: list[Action] = [*server.start(now), *client.start(now)]
    busy_ack = make_ack(INVITE, make_response(INVITE, 486))
    for kind, step in events:
        now += step
        status = {"1xx": 180, "2xx": 200, "4xx": 486}.get(kind)
        if status is not None:
            response = make_response(INVITE, status, to_tag="t")
            actions += server.respond(response, now) + client.on_message(response, now)
        elif kind == "timer":
            actions += server.on_timer(now) + client.on_timer(now)
            for tx in (server, client):  # every timer due has fired
                assert tx.next_deadline is None or tx.next_deadline > now
        else:
            actions += server.on_message(INVITE if kind == "invite" else busy_ack, now)
    assert sum(isinstance(a, Terminated) for a in actions) <= 2
    for tx in (server, client):
        assert not tx.terminated or tx.next_deadline is None


@pytest.mark.parametrize("status", [180, 200, 404])
def test_terminated_transactions_ignore_everything(status: int) -> None:
    tx = NonInviteClientTransaction(BYE, reliable=True)
    tx.start(0.0)
    tx.on_message(make_response(BYE, 200), 0.0)
    assert tx.terminated
    assert tx.on_message(make_response(BYE, status), 1.0) == [] and tx.on_timer(99.0) == []
