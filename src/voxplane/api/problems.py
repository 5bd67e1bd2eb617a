"""RFC 9457 problem details for every error; nothing internal ever reaches a client."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from voxplane.agents.loader import field_problems, format_loc
from voxplane.errors import ControlError, InvalidError, LimitError
from voxplane.observability.logs import is_sensitive_key

log = logging.getLogger("voxplane.api")

PROBLEM = "application/problem+json"


def problem(
    status: int, title: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


async def _control_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ControlError)
    headers: dict[str, str] = {}
    extra: dict[str, Any] = {}
    if isinstance(error, LimitError):
        headers["Retry-After"] = str(max(1, round(error.retry_after_s + 0.499)))
        headers.update(getattr(request.state, "ratelimit_headers", {}))
    if isinstance(error, InvalidError) and error.field:
        extra["errors"] = [{"field": error.field, "message": error.message}]
    if error.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return problem(error.status, error.title, error.message, headers=headers, **extra)


async def _validation_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    items = [_without_secret_input(item) for item in error.errors()]
    root = tuple(items[0]["loc"][:1]) if items else ()
    errors = [
        {"field": format_loc(loc), "message": message}
        for loc, message in field_problems(items, root)
    ]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:3])
    return problem(422, "Invalid request", detail, errors=errors)


def _without_secret_input(item: Any) -> Any:
    """A rejected password, token or secret is not echoed back in the message."""
    names = [part for part in item["loc"] if isinstance(part, str)]
    if names and is_sensitive_key(names[-1]):
        return {key: value for key, value in item.items() if key != "input"}
    return item


async def _http_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    titles = {404: "Not found", 405: "Method not allowed", 413: "Payload too large"}
    title = titles.get(error.status_code, "Error")
    detail = error.detail if isinstance(error.detail, str) else title
    return problem(error.status_code, title, detail, headers=dict(error.headers or {}))


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    log.error("unhandled error", exc_info=error)
    rid = getattr(request.state, "request_id", None)
    return problem(
        500, "Internal error", "something went wrong; the request id is logged", request_id=rid
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(ControlError, _control_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
