"""RFC 3261 §12 dialogs: the RFC 3665 call rebuilt from both sides, routing, CSeq rules."""

from __future__ import annotations

from dataclasses import replace

import pytest
from _sip_rfc import (
    RFC3665_F1_INVITE,
    RFC3665_F2_RINGING,
    RFC3665_F3_OK,
    RFC3665_F3_SDP,
    RFC3665_F4_ACK,
    RFC3665_F5_BYE,
    SIPP_UAC_PCAP_INVITE,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from voxplane.errors import ProtocolError
from voxplane.transports.sip.dialog import Dialog, sipfrag_status
from voxplane.transports.sip.message import (
    SipRequest,
    SipResponse,
    make_response,
    parse_message,
    stamp_via,
)
from voxplane.transports.sip.offer_answer import LocalMedia, answer_offer
from voxplane.transports.sip.sdp import parse_sdp


def _parse(raw: bytes) -> SipRequest | SipResponse:
    return parse_message(raw)


INVITE = _parse(RFC3665_F1_INVITE)
OK = _parse(RFC3665_F3_OK)
assert isinstance(INVITE, SipRequest) and isinstance(OK, SipResponse)
BOB_CONTACT = "<sip:bob@client.biloxi.example.com;transport=tcp>"


def _after_start_line(wire: bytes) -> bytes:
    return wire.split(b"\r\n", 1)[1]


def test_bob_answers_with_rfc3665_f2_and_f3_byte_for_byte() -> None:
    """Bob's side: the received INVITE, stamped with Alice's source address, answered."""
    invite = stamp_via(INVITE, "192.0.2.101", 5060)  # type: ignore[arg-type]
    ringing = make_response(invite, 180, to_tag="8321234356", headers=[("Contact", BOB_CONTACT)])
    assert ringing.encode() == RFC3665_F2_RINGING
    headers = [("Contact", BOB_CONTACT), ("Content-Type", "application/sdp")]
    ok = make_response(invite, 200, to_tag="8321234356", headers=headers, body=RFC3665_F3_SDP)
    assert ok.encode() == RFC3665_F3_OK


def test_bob_hangs_up_with_rfc3665_f5_byte_for_byte() -> None:
    dialog = Dialog.as_uas(INVITE, local_tag="8321234356", local_contact=BOB_CONTACT)  # type: ignore[arg-type]
    assert dialog.id == ("3848276298220188511@atlanta.example.com", "8321234356", "9fxced76sl")
    via = "SIP/2.0/TCP client.biloxi.example.com:5060;branch=z9hG4bKnashds7"
    after, bye = dialog.request("BYE", via=via)
    # everything after the request line is F5's; the RFC's Request-URI drops ;transport=tcp
    # from the Contact it targets, voxplane keeps the full remote target (§12.2.1.1)
    assert _after_start_line(bye.encode()) == _after_start_line(RFC3665_F5_BYE)
    assert bye.uri == "sip:alice@client.atlanta.example.com;transport=tcp"
    assert after.local_seq == 1 and dialog.local_seq == 0  # frozen: the new value is returned


def test_alice_acks_the_2xx_like_rfc3665_f4() -> None:
    dialog = Dialog.as_uac(INVITE, OK)  # type: ignore[arg-type]
    assert dialog.remote_target == "sip:bob@client.biloxi.example.com;transport=tcp"
    ack = dialog.ack(1, via="SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bd5")
    assert _after_start_line(ack.encode()) == _after_start_line(RFC3665_F4_ACK)
    assert ack.uri == dialog.remote_target  # the RFC's Request-URI drops ;transport=tcp
    assert dialog.matches(_parse(RFC3665_F5_BYE))


def test_dialog_matching() -> None:
    bob = Dialog.as_uas(INVITE, local_tag="8321234356", local_contact=BOB_CONTACT)  # type: ignore[arg-type]
    alice = Dialog.as_uac(INVITE, OK)  # type: ignore[arg-type]
    _, bye = bob.request("BYE", via="SIP/2.0/UDP b;branch=z9hG4bK1")
    assert alice.matches(bye) and not bob.matches(bye)
    _, alice_bye = alice.request("BYE", via="SIP/2.0/UDP a;branch=z9hG4bK7")
    assert bob.matches(alice_bye) and not alice.matches(alice_bye)
    assert alice.matches(make_response(alice_bye, 200))
    assert not alice.matches(make_response(bye, 200))  # a response to Bob's request, not ours


def test_record_route_gives_the_route_set_in_the_right_order() -> None:
    rr = [("Record-Route", "<sip:p2.example.com;lr>"), ("Record-Route", "<sip:p1.example.com;lr>")]
    invite = replace(
        INVITE, headers=INVITE.headers.add("Record-Route", rr[0][1]).add("Record-Route", rr[1][1])
    )
    uas = Dialog.as_uas(invite, local_tag="t", local_contact=BOB_CONTACT)  # type: ignore[arg-type]
    assert uas.route_set == ("<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>")
    ok = make_response(invite, 200, to_tag="t", headers=[("Contact", BOB_CONTACT), *rr])  # type: ignore[arg-type]
    uac = Dialog.as_uac(INVITE, ok)  # type: ignore[arg-type]
    assert uac.route_set == ("<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>")
    _, bye = uac.request("BYE", via="SIP/2.0/UDP a;branch=z9hG4bK2")
    assert bye.uri == uac.remote_target
    assert bye.headers.get_all("Route") == uac.route_set


def test_strict_router_gets_the_request_uri_and_the_target_goes_last() -> None:
    dialog = replace(
        Dialog.as_uac(INVITE, OK),  # type: ignore[arg-type]
        route_set=("<sip:old-proxy.example.com>", "<sip:p2.example.com;lr>"),
    )
    _, bye = dialog.request("BYE", via="SIP/2.0/UDP a;branch=z9hG4bK3")
    assert bye.uri == "sip:old-proxy.example.com"
    assert bye.headers.get_all("Route") == (
        "<sip:p2.example.com;lr>", f"<{dialog.remote_target}>",
    )  # fmt: skip


def test_in_dialog_requests_carry_contact_only_when_they_refresh_the_target() -> None:
    dialog = Dialog.as_uas(INVITE, local_tag="t", local_contact=BOB_CONTACT)  # type: ignore[arg-type]
    dialog, reinvite = dialog.request(
        "INVITE", via="SIP/2.0/UDP b;branch=z9hG4bK4", body=b"v=0\r\n"
    )
    dialog, refer = dialog.request(
        "REFER",
        via="SIP/2.0/UDP b;branch=z9hG4bK5",
        headers=[("Refer-To", "<sip:+15551234@trunk>")],
    )
    dialog, info = dialog.request("INFO", via="SIP/2.0/UDP b;branch=z9hG4bK6")
    assert [str(m.cseq) for m in (reinvite, refer, info)] == ["1 INVITE", "2 REFER", "3 INFO"]
    assert reinvite.headers.get("Contact") == refer.headers.get("Contact") == BOB_CONTACT
    assert info.headers.get("Contact") is None
    assert refer.headers.get("Refer-To") == "<sip:+15551234@trunk>"
    assert parse_message(refer.encode()).encode() == refer.encode()


def test_remote_cseq_must_grow_and_reinvite_refreshes_the_target() -> None:
    dialog = Dialog.as_uac(INVITE, OK)  # type: ignore[arg-type]
    bye = _parse(RFC3665_F5_BYE)
    assert isinstance(bye, SipRequest)
    dialog = dialog.on_request(bye)
    assert dialog.remote_seq == 1
    with pytest.raises(ProtocolError) as caught:
        dialog.on_request(bye)
    assert caught.value.status == 500
    reinvite = replace(
        bye,
        method="INVITE",
        headers=bye.headers.set("CSeq", "2 INVITE").add("Contact", "<sip:bob@192.0.2.99>"),
    )
    assert dialog.on_request(reinvite).remote_target == "sip:bob@192.0.2.99"
    refreshed = dialog.on_response(
        make_response(INVITE, 200, headers=[("Contact", "<sip:bob@192.0.2.77>")])
    )  # type: ignore[arg-type]
    assert refreshed.remote_target == "sip:bob@192.0.2.77"


def test_dialog_creation_needs_contact_and_to_tag() -> None:
    no_contact = replace(INVITE, headers=INVITE.headers.remove("Contact"))
    with pytest.raises(ProtocolError):
        Dialog.as_uas(no_contact, local_tag="t", local_contact=BOB_CONTACT)  # type: ignore[arg-type]
    with pytest.raises(ProtocolError):
        Dialog.as_uac(INVITE, make_response(INVITE, 200, headers=[("Contact", BOB_CONTACT)]))  # type: ignore[arg-type]


def test_sipfrag_status() -> None:
    assert sipfrag_status(b"SIP/2.0 200 OK\r\n") == 200
    assert sipfrag_status(b"SIP/2.0 603 Declined") == 603
    assert sipfrag_status(b"garbage") is None and sipfrag_status(b"") is None


def test_stamp_via_rport() -> None:
    invite = replace(
        INVITE, headers=INVITE.headers.set("Via", "SIP/2.0/UDP 10.0.0.2:7632;rport;branch=z9hG4bKx")
    )
    stamped = stamp_via(invite, "203.0.113.5", 40123)  # type: ignore[arg-type]
    assert (stamped.vias[0].received, stamped.vias[0].rport) == ("203.0.113.5", 40123)
    same = stamp_via(INVITE, "client.atlanta.example.com", 5060)  # type: ignore[arg-type]
    assert same.vias == INVITE.vias


_value = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=60)


@settings(max_examples=300)
@given(st.sampled_from(["Contact", "Record-Route", "To", "From"]), _value)
def test_any_parsed_invite_makes_a_dialog_or_a_protocol_error(name: str, value: str) -> None:
    raw = RFC3665_F1_INVITE.replace(b"\r\nCall-ID", f"\r\n{name}: {value}\r\nCall-ID".encode())
    try:
        invite = parse_message(raw)
        assert isinstance(invite, SipRequest)
        dialog = Dialog.as_uas(invite, local_tag="t", local_contact=BOB_CONTACT)
        dialog, bye = dialog.request("BYE", via="SIP/2.0/UDP b;branch=z9hG4bK8")
    except ProtocolError as exc:
        assert exc.status == 400
        return
    assert parse_message(bye.encode()).encode() == bye.encode()


def test_sipp_invite_is_answered_and_its_dialog_targets_the_addr_spec_contact() -> None:
    invite = parse_message(SIPP_UAC_PCAP_INVITE)
    assert isinstance(invite, SipRequest)
    answer, media = answer_offer(parse_sdp(invite.body), LocalMedia("127.0.0.1", 20000, 1))
    assert (media.codec.name, media.dtmf_payload_type, media.remote_port) == ("PCMA", 101, 6000)
    assert answer.media[0].formats == ("8", "101")
    dialog = Dialog.as_uas(invite, local_tag="vx1", local_contact="<sip:agent@127.0.0.1:5060>")
    assert dialog.remote_target == "sip:sipp@127.0.0.1:5061"
    _, bye = dialog.request("BYE", via="SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK9")
    assert bye.uri == "sip:sipp@127.0.0.1:5061"
    assert bye.to.tag == "1234SIPpTag091" and bye.from_.tag == "vx1"
