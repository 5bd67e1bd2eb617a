"""Golden messages copied from the RFCs (line ends made CRLF, as on the wire).

RFC 3665 §3.1 "Successful Session Establishment" (Alice calls Bob directly over TCP): the
published Content-Length values (151, 147) match these bodies byte for byte.
RFC 4317 §2.1 "Audio and Video 1": an offer of PCMU/PCMA/iLBC + H.261/MPV video and its
answer.
"""

from __future__ import annotations


def crlf(text: str) -> bytes:
    """The RFC text with each line ended by CRLF (the RFCs print bare lines)."""
    return "".join(line + "\r\n" for line in text.strip("\n").split("\n")).encode()


RFC3665_F1_SDP = crlf("""
v=0
o=alice 2890844526 2890844526 IN IP4 client.atlanta.example.com
s=-
c=IN IP4 192.0.2.101
t=0 0
m=audio 49172 RTP/AVP 0
a=rtpmap:0 PCMU/8000
""")

RFC3665_F1_INVITE = (
    crlf("""
INVITE sip:bob@biloxi.example.com SIP/2.0
Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9
Max-Forwards: 70
From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl
To: Bob <sip:bob@biloxi.example.com>
Call-ID: 3848276298220188511@atlanta.example.com
CSeq: 1 INVITE
Contact: <sip:alice@client.atlanta.example.com;transport=tcp>
Content-Type: application/sdp
Content-Length: 151
""")
    + b"\r\n"
    + RFC3665_F1_SDP
)

RFC3665_F2_RINGING = (
    crlf("""
SIP/2.0 180 Ringing
Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9;received=192.0.2.101
From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl
To: Bob <sip:bob@biloxi.example.com>;tag=8321234356
Call-ID: 3848276298220188511@atlanta.example.com
CSeq: 1 INVITE
Contact: <sip:bob@client.biloxi.example.com;transport=tcp>
Content-Length: 0
""")
    + b"\r\n"
)

RFC3665_F3_SDP = crlf("""
v=0
o=bob 2890844527 2890844527 IN IP4 client.biloxi.example.com
s=-
c=IN IP4 192.0.2.201
t=0 0
m=audio 3456 RTP/AVP 0
a=rtpmap:0 PCMU/8000
""")

RFC3665_F3_OK = (
    crlf("""
SIP/2.0 200 OK
Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9;received=192.0.2.101
From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl
To: Bob <sip:bob@biloxi.example.com>;tag=8321234356
Call-ID: 3848276298220188511@atlanta.example.com
CSeq: 1 INVITE
Contact: <sip:bob@client.biloxi.example.com;transport=tcp>
Content-Type: application/sdp
Content-Length: 147
""")
    + b"\r\n"
    + RFC3665_F3_SDP
)

RFC3665_F4_ACK = (
    crlf("""
ACK sip:bob@client.biloxi.example.com SIP/2.0
Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bd5
Max-Forwards: 70
From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl
To: Bob <sip:bob@biloxi.example.com>;tag=8321234356
Call-ID: 3848276298220188511@atlanta.example.com
CSeq: 1 ACK
Content-Length: 0
""")
    + b"\r\n"
)

RFC3665_F5_BYE = (
    crlf("""
BYE sip:alice@client.atlanta.example.com SIP/2.0
Via: SIP/2.0/TCP client.biloxi.example.com:5060;branch=z9hG4bKnashds7
Max-Forwards: 70
From: Bob <sip:bob@biloxi.example.com>;tag=8321234356
To: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl
Call-ID: 3848276298220188511@atlanta.example.com
CSeq: 1 BYE
Content-Length: 0
""")
    + b"\r\n"
)

RFC3665_CALL = (
    RFC3665_F1_INVITE, RFC3665_F2_RINGING, RFC3665_F3_OK, RFC3665_F4_ACK, RFC3665_F5_BYE,
)  # fmt: skip

RFC4317_2_1_OFFER = crlf("""
v=0
o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com
s=
c=IN IP4 host.atlanta.example.com
t=0 0
m=audio 49170 RTP/AVP 0 8 97
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:97 iLBC/8000
m=video 51372 RTP/AVP 31 32
a=rtpmap:31 H261/90000
a=rtpmap:32 MPV/90000
""")

RFC4317_2_1_ANSWER = crlf("""
v=0
o=bob 2808844564 2808844564 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
m=audio 49174 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=video 49170 RTP/AVP 32
a=rtpmap:32 MPV/90000
""")

# sipp 3.6.1's built-in ``uac_pcap`` scenario (``sipp -sd uac_pcap``), the INVITE the
# end-to-end test sends, rendered with local 127.0.0.1:5061 and media port 6000.
SIPP_UAC_PCAP_SDP = crlf("""
v=0
o=user1 53655765 2353687637 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 6000 RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-11,16
""")
SIPP_UAC_PCAP_INVITE = (
    crlf(f"""
INVITE sip:+15550100@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1234-1-0
From: sipp <sip:sipp@127.0.0.1:5061>;tag=1234SIPpTag091
To: +15550100 <sip:+15550100@127.0.0.1:5060>
Call-ID: 1-1234@127.0.0.1
CSeq: 1 INVITE
Contact: sip:sipp@127.0.0.1:5061
Max-Forwards: 70
Subject: Performance Test
Content-Type: application/sdp
Content-Length: {len(SIPP_UAC_PCAP_SDP)}
""")
    + b"\r\n"
    + SIPP_UAC_PCAP_SDP
)
