"""The TwiML documents voxplane answers Twilio's voice webhook with (and Telnyx's TeXML,
which speaks the same verbs)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal
from xml.sax.saxutils import escape

_HEAD = '<?xml version="1.0" encoding="UTF-8"?>'


def connect_stream(
    url: str,
    parameters: Mapping[str, str],
    action: str | None = None,
    attributes: Mapping[str, str] | None = None,
    redirect: str | None = None,
) -> str:
    """``<Connect><Stream>``: a bidirectional media stream to ``url``; each parameter
    reaches the websocket in the start message's ``customParameters``. Twilio requests
    ``action`` for what to do next once the stream ends; TeXML has no ``action`` but goes on
    to the next verb, so ``redirect`` follows the stream with ``<Redirect>`` (a POST) to
    that URL. ``attributes`` are more attributes of ``<Stream>`` (TeXML's
    ``bidirectionalMode``)."""
    params = "".join(
        f"<Parameter name={_attr(name)} value={_attr(value)}/>"
        for name, value in parameters.items()
    )
    extra = "".join(f" {name}={_attr(value)}" for name, value in (attributes or {}).items())
    stream = f"<Stream url={_attr(url)}{extra}>{params}</Stream>"
    connect = "<Connect>" if action is None else f"<Connect action={_attr(action)}>"
    then = "" if redirect is None else f'<Redirect method="POST">{escape(redirect)}</Redirect>'
    return f"{_HEAD}<Response>{connect}{stream}</Connect>{then}</Response>"


def reject(reason: Literal["rejected", "busy"] = "rejected") -> str:
    """``<Reject>``: the call is refused before it is answered (no charge for the caller)."""
    return f'{_HEAD}<Response><Reject reason="{reason}"/></Response>'


def dial(target: str) -> str:
    """``<Dial>``: hand the call to ``target`` (a number or a SIP URI)."""
    if target.lower().startswith("sip:"):
        return f"{_HEAD}<Response><Dial><Sip>{escape(target)}</Sip></Dial></Response>"
    return f"{_HEAD}<Response><Dial>{escape(target)}</Dial></Response>"


def hang_up() -> str:
    return f"{_HEAD}<Response><Hangup/></Response>"


def _attr(value: str) -> str:
    return '"' + escape(value, {'"': "&quot;"}) + '"'
