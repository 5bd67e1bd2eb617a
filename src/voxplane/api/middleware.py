"""ASGI middleware: request ids, the body size limit, log context and the access log.

Written as plain ASGI (not ``BaseHTTPMiddleware``) so it costs microseconds per request
and streams bodies instead of buffering them.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from typing import Any

from opentelemetry.trace import Span
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voxplane.observability import metrics, tracing
from voxplane.observability.logs import log_context

log = logging.getLogger("voxplane.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class BodyTooLarge(HTTPException):
    """Raised by ``receive`` past the limit. An HTTPException so that FastAPI's body parsing
    lets it through (it turns any other error into a 400) and the problem handler sends 413."""

    def __init__(self, limit: int) -> None:
        detail = f"the request body is over {limit} bytes"
        super().__init__(413, detail, headers={"Connection": "close"})


class RequestMiddleware:
    """Assign a request id, bound the body size, log one line per request."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.match(given) else secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await _too_large(send, request_id, self.max_body)
            self._log(scope, 413, started, request_id)
            return

        seen = 0

        async def bounded_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise BodyTooLarge(self.max_body)
            return message

        response_started = False

        async def tagged_send(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        with log_context(request_id=request_id), tracing.server_span(scope) as span:
            try:
                await self.app(scope, bounded_receive, tagged_send)
            except BodyTooLarge:
                if not response_started:
                    await _too_large(send, request_id, self.max_body)
                status = 413
            finally:
                self._log(scope, status, started, request_id, scope["state"].get("tenant_id"))
                _observe(scope, status, started, span)

    @staticmethod
    def _log(
        scope: Scope, status: int, started: float, request_id: str, tenant_id: Any = None
    ) -> None:
        if log.isEnabledFor(logging.INFO):
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],  # ids only: routes never carry secrets in the path
                    "status": status,
                    "ms": round(1000 * (time.perf_counter() - started), 2),
                    "tenant_id": tenant_id,
                },
            )


def _observe(scope: Scope, status: int, started: float, span: Span) -> None:
    """API latency by route template (``/v1/agents/{agent_id}``), never the raw path; the
    request's span named the same way."""
    route = _template(scope)
    elapsed = time.perf_counter() - started
    metrics.HTTP_LATENCY.labels(route, scope["method"], metrics.status_class(status)).observe(
        elapsed
    )
    span.update_name(f"{scope['method']} {route}")
    span.set_attribute("http.route", route)
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        tracing.failed(span, f"HTTP {status}")


def _template(scope: Scope) -> str:
    """The matched route's template, rebuilt from the path and its parameters (a route
    of an included router knows only its own part); ``unmatched`` for a 404 path, so label
    values stay bounded by the routes that exist."""
    if scope.get("route") is None:
        return "unmatched"
    names = {str(value): name for name, value in scope.get("path_params", {}).items()}
    return "/".join(f"{{{names[s]}}}" if s in names else s for s in scope["path"].split("/"))


PAGE_CALL_PATHS = frozenset({"/v1/webrtc/tokens", "/v1/webrtc/calls"})
"""What a customer's own page calls (with a publishable key, then a call token)."""
_PREFLIGHT_HEADERS = [
    (b"access-control-allow-methods", b"POST"),
    (b"access-control-allow-headers", b"authorization, content-type"),
    (b"access-control-max-age", b"600"),
    (b"vary", b"Origin"),
]


class PageCallsCors:
    """CORS for the two routes a page on another origin calls: any origin may ask, since
    the bearer value decides (a publishable key checks the ``Origin`` itself; a call
    token is single-use). No cookies are involved, so no credentials mode."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in PAGE_CALL_PATHS:
            await self.app(scope, receive, send)
            return
        origin = dict(scope["headers"]).get(b"origin")
        if origin is None:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            headers = [(b"access-control-allow-origin", origin), *_PREFLIGHT_HEADERS]
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return

        async def allowed(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"access-control-allow-origin", origin),
                    (b"access-control-expose-headers", b"retry-after, x-request-id"),
                    (b"vary", b"Origin"),
                ]
            await send(message)

        await self.app(scope, receive, allowed)


async def _too_large(send: Send, request_id: str, limit: int) -> None:
    body = json.dumps(
        {
            "type": "about:blank",
            "title": "Payload too large",
            "status": 413,
            "detail": f"the request body is over {limit} bytes",
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", request_id.encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
