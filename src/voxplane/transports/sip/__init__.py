"""voxplane.transports.sip: the SIP user agent.

Pure protocol modules (no asyncio, no sockets, time passed in): ``headers`` (typed header
values), ``message`` (parse / serialize / stream framing), ``sdp`` (SDP and offer/answer),
``digest`` (HTTP digest auth), ``transaction`` and ``dialog`` (RFC 3261 state machines).
"""
