"""What every cloud speech adapter shares: where the provider is, and the one place where
httpx and websockets failures become :class:`~voxplane.errors.ProviderError`.

``retryable`` says whether the same request may succeed if sent again: a timeout, a closed
connection, 408, 429 and 5xx are; a refused key (401, 403), a bad request and an answer
that is not the provider's protocol are not. Either way the fallback adapter moves on to
the next provider; ``retryable`` is for whoever retries.

Error messages name the provider and what went wrong, with at most a short, single-line
excerpt of the provider's own words; the key is never part of them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
    WebSocketException,
)

from voxplane.errors import ProviderError
from voxplane.media.frame import Pcm16

_EXCERPT_CHARS = 160
_RETRYABLE_STATUS = frozenset({408, 425, 429})
_RETRYABLE_CLOSE = frozenset({1001, 1006, 1011, 1012, 1013, 1014})
"""Going away, abnormal closure, internal error, restart, try again later, bad gateway."""
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
_WS_LOG = logging.getLogger("voxplane.providers.cloud.websocket")
_WS_LOG.setLevel(logging.WARNING)  # at debug, websockets logs the handshake headers (the
# key) and every frame (what the caller said): never, whatever the deployment's log level
_CLOSE_TIMEOUT_S = 1.0
"""A barge-in closes the socket: never wait long for a silent provider's closing frame."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where one provider is and how to authenticate to it."""

    api_key: str = field(repr=False)
    base_url: str
    """Scheme, host and any path prefix, without a trailing slash."""
    timeout_s: float = 5.0
    """Connecting, and each wait for the next message or byte, give up after this."""

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path


def excerpt(text: str, secret: str = "") -> str:
    """A short single line of a provider's words, the key blanked out should it echo it."""
    if secret:
        text = text.replace(secret, "***")
    line = " ".join(text.split())
    return line[:_EXCERPT_CHARS] + ("…" if len(line) > _EXCERPT_CHARS else "")


def status_error(provider: str, status: int, body: str, secret: str = "") -> ProviderError:
    """A provider's HTTP error status (an answer or a refused websocket handshake)."""
    retryable = status in _RETRYABLE_STATUS or status >= 500
    what = {401: "refused the key", 403: "refused access", 429: "is rate limiting"}.get(
        status, "failed"
    )
    detail = excerpt(body, secret)
    suffix = f": {detail}" if detail else ""
    return ProviderError(f"{provider} {what} (HTTP {status}){suffix}", retryable=retryable)


def timeout_error(provider: str, waiting_for: str) -> ProviderError:
    return ProviderError(f"{provider} did not answer in time ({waiting_for})", retryable=True)


def protocol_error(provider: str, problem: str) -> ProviderError:
    """An answer that is not the provider's documented protocol."""
    return ProviderError(f"{provider} sent an unexpected answer: {problem}", retryable=False)


def closed_error(provider: str, error: ConnectionClosed, secret: str = "") -> ProviderError:
    """The provider's websocket closed before the answer was complete."""
    frame = error.rcvd
    if frame is None:
        return ProviderError(f"{provider} dropped the connection mid-stream", retryable=True)
    reason = excerpt(frame.reason, secret)
    suffix = f": {reason}" if reason else ""
    retryable = frame.code in _RETRYABLE_CLOSE or frame.code == 1000
    return ProviderError(
        f"{provider} closed the stream (code {frame.code}){suffix}", retryable=retryable
    )


def parse_json(provider: str, raw: str | bytes) -> dict[str, Any]:
    """One JSON object message, or a ProviderError saying it is not one."""
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise protocol_error(provider, "not JSON") from None
    if not isinstance(value, dict):
        raise protocol_error(provider, "not a JSON object")
    return value


class PcmAssembler:
    """Little-endian 16-bit PCM from byte chunks that may split a sample in two."""

    def __init__(self) -> None:
        self._carry = b""

    def push(self, data: bytes) -> Pcm16:
        data = self._carry + data
        whole = len(data) - len(data) % 2
        self._carry = data[whole:]
        return np.frombuffer(data[:whole], dtype="<i2").astype(np.int16)


# --- websockets ---------------------------------------------------------------------------


async def connect_socket(
    provider: str, url: str, headers: Mapping[str, str], endpoint: Endpoint
) -> ClientConnection:
    """A websocket to ``provider``, which the caller closes; a refused handshake is a
    :class:`ProviderError`."""
    try:
        async with asyncio.timeout(endpoint.timeout_s):
            socket = await connect(
                url,
                additional_headers=dict(headers),
                open_timeout=None,  # asyncio.timeout above: it follows the loop's clock
                max_size=MAX_MESSAGE_BYTES,
                close_timeout=_CLOSE_TIMEOUT_S,
                logger=_WS_LOG,
                compression=None,
                user_agent_header="voxplane",
            )
    except TimeoutError:
        raise timeout_error(provider, "connecting") from None
    except InvalidStatus as error:
        body = error.response.body.decode("utf-8", "replace") if error.response.body else ""
        status = error.response.status_code
        raise status_error(provider, status, body, endpoint.api_key) from None
    except InvalidURI:
        raise ProviderError(f"{provider}: invalid endpoint URL", retryable=False) from None
    except (InvalidHandshake, WebSocketException) as error:
        raise protocol_error(provider, f"websocket handshake failed ({error})") from None
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ProviderError(f"{provider} is unreachable: {reason}", retryable=True) from None
    return socket


@asynccontextmanager
async def open_socket(
    provider: str, url: str, headers: Mapping[str, str], endpoint: Endpoint
) -> AsyncIterator[ClientConnection]:
    """A websocket to ``provider`` for the ``async with`` block (:func:`connect_socket`)."""
    socket = await connect_socket(provider, url, headers, endpoint)
    try:
        yield socket
    finally:
        await socket.close()


async def receive(
    provider: str,
    socket: ClientConnection,
    endpoint: Endpoint,
    waiting_for: str,
    *,
    end_ok: bool = False,
    patient: bool = False,
) -> str | bytes | None:
    """The next message, within the endpoint's timeout (none when ``patient``: a live
    stream may stay quiet while the caller is); ``None`` when the provider closed the
    stream normally and ``end_ok`` says the answer may end there."""
    try:
        async with asyncio.timeout(None if patient else endpoint.timeout_s):
            return await socket.recv()
    except TimeoutError:
        raise timeout_error(provider, waiting_for) from None
    except ConnectionClosedOK as error:
        if end_ok:
            return None
        raise closed_error(provider, error, endpoint.api_key) from None
    except ConnectionClosed as error:
        raise closed_error(provider, error, endpoint.api_key) from None


async def send(provider: str, socket: ClientConnection, message: str | bytes) -> None:
    try:
        await socket.send(message)
    except ConnectionClosed as error:
        raise closed_error(provider, error) from None


# --- HTTP ---------------------------------------------------------------------------------


def http_client(timeout_s: float = 5.0) -> httpx.AsyncClient:
    """A client for provider requests (each request also sets its endpoint's timeout)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_s),
        headers={"User-Agent": "voxplane"},
        limits=httpx.Limits(max_keepalive_connections=32, keepalive_expiry=30.0),
    )


@asynccontextmanager
async def http_session(
    endpoint: Endpoint, shared: httpx.AsyncClient | None
) -> AsyncIterator[httpx.AsyncClient]:
    """``shared`` (the process's client: kept-alive TLS connections, left open), else a
    client of its own for this one request."""
    if shared is not None:
        yield shared
        return
    async with http_client(endpoint.timeout_s) as client:
        yield client


def request_timeout(endpoint: Endpoint) -> httpx.Timeout:
    """Connecting, and each wait for the next bytes, give up after the endpoint's timeout."""
    return httpx.Timeout(endpoint.timeout_s)


def http_failure(provider: str, error: httpx.HTTPError) -> ProviderError:
    """A request that got no complete answer: unreachable, timed out, cut off."""
    if isinstance(error, httpx.TimeoutException):
        return timeout_error(provider, "HTTP response")
    if isinstance(error, httpx.ConnectError):
        return ProviderError(f"{provider} is unreachable", retryable=True)
    if isinstance(error, httpx.RemoteProtocolError | httpx.ReadError):
        return ProviderError(f"{provider} dropped the connection mid-answer", retryable=True)
    if isinstance(error, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return ProviderError(f"{provider}: invalid endpoint URL", retryable=False)
    return ProviderError(f"{provider} request failed ({type(error).__name__})", retryable=True)


async def raise_for_status(provider: str, response: httpx.Response, secret: str) -> None:
    """A ProviderError for an error status, with a short excerpt of the provider's body."""
    if response.is_success:
        return
    body = (await response.aread())[:4096].decode("utf-8", "replace")
    raise status_error(provider, response.status_code, body, secret)
