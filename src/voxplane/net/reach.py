"""Whether a server an agent names is there: the one check behind every "is this
``base_url`` reachable" (a model server, a cloud speech endpoint), made where a wrong
address should be one clear line before any call depends on it: saving an agent under
``voxplane serve``, starting ``voxplane talk``.

Any HTTP answer counts, whatever its status: a model server without ``/models`` or a
websocket endpoint answering a plain GET with 4xx is still there. The request goes to the
address the SSRF policy checked (pinned, no redirects, no proxy from the environment), so
a name that resolves elsewhere between the check and the request cannot slip through.
"""

from __future__ import annotations

import asyncio

import httpx

from voxplane.net.urlpolicy import BlockedAddress, parse_url, pin, resolve

REACH_TIMEOUT_S = 3.0


class Unreachable(Exception):
    """Nothing answered at the URL; the message says what and why (no field name)."""


def as_http(url: str) -> str:
    """ws:// and wss:// as the http:// and https:// their handshakes start with."""
    return "http" + url[2:] if url.startswith("ws") else url


async def check_answers(
    url: str,
    *,
    allow_private: bool,
    path: str = "",
    field: str = "url",
    timeout_s: float = REACH_TIMEOUT_S,
) -> None:
    """Raises :class:`Unreachable` unless ``url`` + ``path`` gives an HTTP answer within
    ``timeout_s``; :class:`~voxplane.errors.InvalidError` naming ``field`` when the URL
    itself is refused (shape, or an IP literal the policy forbids)."""
    target = parse_url(as_http(url), allow_private=allow_private, field=field)
    try:
        async with asyncio.timeout(timeout_s):
            address = await resolve(target, allow_private=allow_private)
            pinned = pin(target, address, target.path.rstrip("/") + path)
            async with httpx.AsyncClient(trust_env=False, follow_redirects=False) as client:
                request = client.build_request(
                    "GET",
                    pinned.url,
                    headers={"Host": pinned.host_header},
                    extensions=pinned.extensions,
                )
                await client.send(request)
    except BlockedAddress as error:
        raise Unreachable(f"cannot reach {url} ({error})") from error
    except TimeoutError as error:
        raise Unreachable(f"cannot reach {url} (no answer in {timeout_s:g} s)") from error
    except httpx.HTTPError as error:
        raise Unreachable(f"cannot reach {url} ({type(error).__name__})") from error
