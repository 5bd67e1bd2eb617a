"""Carrier media-stream websockets: Twilio Media Streams and Telnyx's dialect of them.

Pure modules (no I/O): :mod:`.protocol` (the dialect-neutral messages), :mod:`.twilio` and
:mod:`.telnyx` (the wire formats), :mod:`.signature` (``X-Twilio-Signature``) and
:mod:`.twiml`. :mod:`.stream` is the thin asyncio glue: a :class:`~voxplane.transports.base.
Transport` over any text-message socket.
"""
