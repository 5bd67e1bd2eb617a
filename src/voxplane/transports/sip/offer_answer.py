"""SDP offer/answer (RFC 3264) for one G.711 audio stream with RFC 4733 telephone-events.

voxplane speaks PCMU (PT 0) and PCMA (PT 8) at 8 kHz, in the order of
:attr:`MediaPolicy.codecs`, plus ``telephone-event/8000`` on whatever dynamic payload type
the peer offers (101 in our own offers). The first usable audio m-line is accepted; every
other m-line is rejected with port 0 (§6). No common codec → ``ProtocolError(status=488)``.

Directions are from our side: ``MediaSession.direction == "recvonly"`` means "do not send".
An offer with ``c=0.0.0.0`` (RFC 2543 hold, §8.4) counts as the offerer not receiving.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from voxplane.errors import ProtocolError
from voxplane.transports.sip.sdp import (
    Attribute,
    Connection,
    Direction,
    MediaDescription,
    Origin,
    SessionDescription,
)

DEFAULT_DTMF_PT = 101
_REVERSE: dict[Direction, Direction] = {
    "sendrecv": "sendrecv",
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "inactive": "inactive",
}
_SENDS = {"sendrecv": True, "sendonly": True, "recvonly": False, "inactive": False}
_RECEIVES = {"sendrecv": True, "sendonly": False, "recvonly": True, "inactive": False}


@dataclass(frozen=True, slots=True)
class Codec:
    """An audio codec voxplane can send: ``name`` as in a=rtpmap, static payload type."""

    name: str
    payload_type: int
    clock_rate: int = 8000


PCMU = Codec("PCMU", 0)
PCMA = Codec("PCMA", 8)
CODECS = {"PCMU": PCMU, "PCMA": PCMA}


@dataclass(frozen=True, slots=True)
class MediaPolicy:
    """What we accept: codecs in preference order, telephone-events, our packet time."""

    codecs: tuple[str, ...] = ("PCMU", "PCMA")
    telephone_event: bool = True
    ptime_ms: int = 20

    def __post_init__(self) -> None:
        unknown = [c for c in self.codecs if c not in CODECS]
        if unknown or not self.codecs:
            raise ValueError(f"codecs must be a non-empty subset of {sorted(CODECS)}")


@dataclass(frozen=True, slots=True)
class LocalMedia:
    """Where we receive RTP, and the o= identity of our SDP (bump version on each change)."""

    address: str
    port: int
    session_id: int
    session_version: int = 1
    username: str = "voxplane"


@dataclass(frozen=True, slots=True)
class MediaSession:
    """The outcome of one offer/answer exchange: what to send where, and how."""

    codec: Codec
    dtmf_payload_type: int | None
    remote_address: str
    remote_port: int
    remote_rtcp_port: int
    remote_ptime_ms: int | None
    direction: Direction

    @property
    def sends(self) -> bool:
        """True when we may send RTP (not put on hold, not inactive)."""
        return _SENDS[self.direction] and self.remote_port != 0

    @property
    def receives(self) -> bool:
        """True when the peer will send us RTP."""
        return _RECEIVES[self.direction]


def _intersect(a: Direction, b: Direction) -> Direction:
    send = _SENDS[a] and _SENDS[b]
    receive = _RECEIVES[a] and _RECEIVES[b]
    if send and receive:
        return "sendrecv"
    if send:
        return "sendonly"
    return "recvonly" if receive else "inactive"


def _offered_direction(sdp: SessionDescription, media: MediaDescription) -> Direction:
    direction = sdp.direction_of(media)
    connection = sdp.connection_of(media)
    if connection is not None and connection.is_hold:
        return _intersect(direction, "sendonly")  # old-style hold: offerer receives nothing
    return direction


def _dtmf_type(media: MediaDescription) -> int | None:
    for pt in media.payload_types():
        mapping = media.rtpmap(pt)
        if mapping and mapping[0].lower() == "telephone-event" and mapping[1] == 8000:
            return pt
    return None


def _choose_codec(media: MediaDescription, policy: MediaPolicy) -> Codec | None:
    offered = {
        (m[0].upper(), m[1]): pt
        for pt in media.payload_types()
        if (m := media.rtpmap(pt)) is not None
    }
    for name in policy.codecs:
        codec = CODECS[name]
        pt = offered.get((codec.name, codec.clock_rate))
        if pt is not None:
            return replace(codec, payload_type=pt)
    return None


def _session_for(
    sdp: SessionDescription, media: MediaDescription, codec: Codec, direction: Direction
) -> MediaSession:
    connection = sdp.connection_of(media)
    if connection is None:
        raise ProtocolError("audio stream without a c= line")
    address = connection.address.split("/")[0]
    rtcp = media.attribute("rtcp")
    rtcp_port = rtcp.split()[0] if rtcp else ""
    return MediaSession(
        codec=codec,
        dtmf_payload_type=_dtmf_type(media),
        remote_address=address,
        remote_port=media.port,
        remote_rtcp_port=int(rtcp_port)
        if rtcp_port.isdigit() and int(rtcp_port) < 65536
        else media.port + 1,
        remote_ptime_ms=media.ptime_ms,
        direction=direction,
    )


def _audio_media(
    local: LocalMedia, policy: MediaPolicy, codecs: tuple[Codec, ...], dtmf_pt: int | None,
    direction: Direction,
) -> MediaDescription:  # fmt: skip
    formats = [str(c.payload_type) for c in codecs]
    attributes: list[Attribute] = [
        ("rtpmap", f"{c.payload_type} {c.name}/{c.clock_rate}") for c in codecs
    ]
    if dtmf_pt is not None:
        formats.append(str(dtmf_pt))
        attributes += [("rtpmap", f"{dtmf_pt} telephone-event/8000"), ("fmtp", f"{dtmf_pt} 0-15")]
    attributes += [("ptime", str(policy.ptime_ms)), (direction, None)]
    return MediaDescription("audio", local.port, "RTP/AVP", tuple(formats), None, tuple(attributes))


def _description(local: LocalMedia, media: tuple[MediaDescription, ...]) -> SessionDescription:
    origin = Origin(
        local.username,
        str(local.session_id),
        str(local.session_version),
        local.address,
        addrtype="IP6" if ":" in local.address else "IP4",
    )
    return SessionDescription(origin, "voxplane", Connection.for_address(local.address), media)


def create_offer(
    local: LocalMedia, policy: MediaPolicy | None = None, direction: Direction = "sendrecv"
) -> SessionDescription:
    """Our offer: every policy codec in order, telephone-event on PT 101."""
    policy = policy or MediaPolicy()
    codecs = tuple(CODECS[name] for name in policy.codecs)
    dtmf = DEFAULT_DTMF_PT if policy.telephone_event else None
    return _description(local, (_audio_media(local, policy, codecs, dtmf, direction),))


def answer_offer(
    offer: SessionDescription,
    local: LocalMedia,
    policy: MediaPolicy | None = None,
    direction: Direction = "sendrecv",
) -> tuple[SessionDescription, MediaSession]:
    """Answer ``offer`` (RFC 3264 §6); ``direction`` is what we want (e.g. sendonly to hold)."""
    policy = policy or MediaPolicy()
    chosen: MediaSession | None = None
    answered: list[MediaDescription] = []
    for media in offer.media:
        codec = None
        if chosen is None and media.media == "audio" and media.port != 0:
            codec = _choose_codec(media, policy) if media.proto == "RTP/AVP" else None
        if codec is None:
            answered.append(MediaDescription(media.media, 0, media.proto, media.formats))
            continue
        ours = _intersect(_REVERSE[_offered_direction(offer, media)], direction)
        chosen = _session_for(offer, media, codec, ours)
        dtmf = chosen.dtmf_payload_type if policy.telephone_event else None
        chosen = replace(chosen, dtmf_payload_type=dtmf)
        answered.append(_audio_media(local, policy, (codec,), dtmf, ours))
    if chosen is None:
        raise ProtocolError("no common audio codec", status=488)
    return _description(local, tuple(answered)), chosen


def accept_answer(offer: SessionDescription, answer: SessionDescription) -> MediaSession:
    """The media session our ``offer`` and the peer's ``answer`` agreed on (488 if none)."""
    if not offer.media or len(answer.media) != len(offer.media):
        raise ProtocolError("answer does not match the offer's m-lines", status=488)
    ours, theirs = offer.media[0], answer.media[0]
    offered = {m[0].upper() for pt in ours.payload_types() if (m := ours.rtpmap(pt)) is not None}
    codec = None
    for pt in theirs.payload_types() if theirs.port != 0 else ():
        mapping = theirs.rtpmap(pt)
        name = mapping[0].upper() if mapping and mapping[1] == 8000 else ""
        if name in CODECS and name in offered:
            codec = replace(CODECS[name], payload_type=pt)
            break
    if codec is None:
        raise ProtocolError("answer has no codec we offered", status=488)
    direction = _intersect(offer.direction_of(ours), _REVERSE[_offered_direction(answer, theirs)])
    session = _session_for(answer, theirs, codec, direction)
    return session if _dtmf_type(ours) is not None else replace(session, dtmf_payload_type=None)
