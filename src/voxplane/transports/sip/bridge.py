"""Two answered SIP calls joined through voxplane: what a cold transfer does when the
caller's side refuses REFER. voxplane is then a back-to-back user agent: each leg is its own
dialog with its own RTP session, and nothing of one leg's signaling reaches the other.

Audio is relayed as decoded frames (each leg keeps its own codec, jitter buffer and 20 ms
pacer, so the legs need not share a codec or a clock; a frame leaves a leg's jitter buffer
at its playout time, as for a phone, not as it arrives, as for the agent); keys pressed on
one leg are sent on the other as RFC 4733 events. The bridge lasts until either side hangs
up (or its media stops), then the other leg is hung up too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from voxplane.transports.base import Dtmf
from voxplane.transports.sip.call import SipCall

log = logging.getLogger(__name__)

MAX_BRIDGE_S = 4 * 3600.0
"""A bridged call is ended after this long, whatever happens on it."""


async def bridge(caller: SipCall, callee: SipCall, *, max_s: float = MAX_BRIDGE_S) -> None:
    """Relay audio and keys between the two calls until one side hangs up; then hang up
    the other. ``callee`` (the leg placed for the bridge) is closed here; ``caller`` is
    left to whoever owns it."""
    loop = asyncio.get_running_loop()
    for leg in (caller, callee):  # each leg's audio is played to a person on the other
        leg.rtp.listening = False
    relays = [
        loop.create_task(_relay_audio(caller, callee)),
        loop.create_task(_relay_audio(callee, caller)),
        loop.create_task(_relay_keys(caller, callee)),
        loop.create_task(_relay_keys(callee, caller)),
    ]
    log.info("sip legs bridged")
    try:
        # a leg's audio ends when its far end hangs up or goes silent; its events end
        # then too, and when voxplane hangs it up (the worker shutting down)
        await asyncio.wait(relays, timeout=max_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in relays:
            task.cancel()
        await asyncio.gather(*relays, return_exceptions=True)
        with contextlib.suppress(Exception):
            await callee.aclose()
        with contextlib.suppress(Exception):
            await caller.hang_up()
        log.info("sip bridge ended")


async def _relay_audio(source: SipCall, sink: SipCall) -> None:
    """``source``'s audio to ``sink`` until ``source`` hangs up (its frames end)."""
    async for frame in source.source.frames():
        await sink.sink.send(frame)


async def _relay_keys(source: SipCall, sink: SipCall) -> None:
    """Keys pressed on ``source`` sent on ``sink``, until ``source``'s events end."""
    async for event in source.events():
        if isinstance(event, Dtmf):
            with contextlib.suppress(ValueError):  # the far leg has no telephone-event
                await sink.send_dtmf(event.key)
