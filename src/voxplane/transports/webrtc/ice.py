"""ICE for WebRTC calls: which servers (STUN/TURN) and which local addresses.

aioice gathers host candidates on every interface but loopback and has no option for it,
so :func:`gather_on` replaces its address lookup, process-wide, with a configured list
(``VOXPLANE_WEBRTC_ICE_ADDRESSES``): ``["127.0.0.1"]`` for a test peer on this machine,
a public or LAN address in a deployment with several interfaces.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import aioice.ice
from aiortc import RTCConfiguration, RTCIceServer

_DEFAULT_HOST_ADDRESSES = aioice.ice.get_host_addresses


@dataclass(frozen=True, slots=True)
class IceServerConfig:
    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None


def rtc_configuration(servers: Sequence[IceServerConfig]) -> RTCConfiguration:
    """The peer connection's configuration. An empty list means no STUN/TURN at all
    (aiortc would otherwise ask Google's public STUN server)."""
    return RTCConfiguration(
        iceServers=[
            RTCIceServer(urls=list(s.urls), username=s.username, credential=s.credential)
            for s in servers
        ]
    )


def gather_on(addresses: Sequence[str]) -> None:
    """Gather host candidates on ``addresses`` only; aioice's default when empty."""
    if not addresses:
        aioice.ice.get_host_addresses = _DEFAULT_HOST_ADDRESSES
        return
    chosen = tuple(addresses)

    def configured(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in chosen if (use_ipv6 if ":" in a else use_ipv4)]

    aioice.ice.get_host_addresses = configured
