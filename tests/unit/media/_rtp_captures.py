"""Real RTP packets, copied byte for byte from the pcaps shipped with sipp.

Source: Debian package sip-tester 1:3.6.1-1+b2, ``/usr/share/sip-tester/``; UDP payloads
extracted from the Ethernet/IPv4/UDP frames. These are the RFC 2833/4733 DTMF packets the
end-to-end test plays at voxplane with ``play_pcap_audio``.
"""

from __future__ import annotations

# dtmf_2833_9.pcap: key "9", PT 101, one packet every 20 ms; the three end packets are
# identical copies (same sequence number) sent together at 140 ms. Durations grow by 320
# per 20 ms packet: sipp counts 16 units per ms, twice the 8 kHz timestamp rate.
DTMF_9 = tuple(
    bytes.fromhex(h)
    for h in (
        "80e52065000109000e05384e090a0000",
        "80652066000109000e05384e090a0140",
        "80652067000109000e05384e090a0280",
        "80652068000109000e05384e090a03c0",
        "80652069000109000e05384e090a0500",
        "8065206a000109000e05384e090a0640",
        "8065206b000109000e05384e090a0780",
        "8065206c000109000e05384e098a08c0",
        "8065206c000109000e05384e098a08c0",
        "8065206c000109000e05384e098a08c0",
    )
)
DTMF_9_OFFSETS_MS = (0, 20, 40, 60, 80, 100, 120, 140, 140, 140)

# dtmf_2833_pound.pcap: key "#" (event 11), same shape.
DTMF_POUND_FIRST = bytes.fromhex("80e520f4000169e00e05384e0b0a0000")
DTMF_POUND_END = bytes.fromhex("806520fb000169e00e05384e0b8a08c0")

# g711a.pcap, first packet: PCMA (PT 8), marker set, 240 samples (30 ms) of A-law silence.
G711A_FIRST = bytes.fromhex("8088e6fd000000f0dee0ee8f") + b"\xd5" * 240
