"""The web console: static files (HTML, CSS, ES modules; no build step) served at ``/``.

Mounted last by ``voxplane serve``, after every API router, so it only answers paths the
API does not have; ``/v1/…`` paths it never serves (an unknown API path stays a problem
``404``). Every answer carries the console's security headers: a content security policy
without inline script or style, no framing, no sniffing, no referrer.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.routing import Match, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

FILES = Path(__file__).parent / "static"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"permissions-policy", b"microphone=(self), camera=(), geolocation=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cache-control", b"no-cache"),
)
WIDGET = frozenset({"/widget.js", "/js/webcall.js"})
"""Loaded by customers' pages on their own origin (``<script type="module" src=…>``)."""


class ConsoleFiles(StaticFiles):
    """The console's files, with its security headers."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), *SECURITY_HEADERS]
                if path in WIDGET:  # a module script from another origin needs CORS
                    headers.append((b"access-control-allow-origin", b"*"))
                message["headers"] = headers
            await send(message)

        await super().__call__(scope, receive, secured)


class _ConsoleMount(Mount):
    """``/`` for everything but the API: an unknown ``/v1`` path stays the API's problem
    ``404``, a known one with another method its ``405``."""

    def matches(self, scope: Scope) -> tuple[Match, MutableMapping[str, Any]]:
        path: str = scope.get("path", "")
        if path == "/v1" or path.startswith("/v1/"):
            return Match.NONE, {}
        return super().matches(scope)


def mount_console(app: FastAPI) -> None:
    """Serve the console at ``/``: call after every router is included."""
    files = ConsoleFiles(directory=FILES, html=True)
    app.router.routes.append(_ConsoleMount("/", app=files, name="console"))
