"""RFC 9457 problem details for every error; nothing internal ever reaches a client."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from voxplane.agents.loader import field_problems, format_loc
from voxplane.errors import ControlError, InvalidError, LimitError, UnavailableError
from voxplane.observability.logs import is_sensitive_key

log = logging.getLogger("voxplane.api")

PROBLEM = "application/problem+json"


class FieldChoice(BaseModel):
    value: str
    label: str


class FieldProblem(BaseModel):
    field: str = Field(description="Where: 'body.stt.provider', 'query.limit', …")
    message: str
    choices: list[FieldChoice] | None = Field(
        None, description="The values the field may take, when the server knows them"
    )


class Problem(BaseModel):
    """The body of every error response (RFC 9457)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] | None = Field(None, description="The invalid fields (422)")
    request_id: str | None = Field(None, description="To quote when reporting a 500")


_MEANINGS = {
    400: "The JSON body cannot be decoded",
    401: "Missing, wrong or expired credentials",
    403: "The role or the key's scopes do not allow this, or the tenant is suspended",
    404: "No such object in the caller's tenant",
    409: "A unique value is already taken, or the object's state forbids this",
    413: "The body is over the size limit",
    422: "An invalid request; `errors` names the fields",
    429: "A rate limit is exhausted; see Retry-After",
    503: "This server cannot do it now (a backend is down, or a transport is off)",
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` documenting these error statuses as problem details."""
    ref = {"$ref": "#/components/schemas/Problem"}
    return {
        status: {"description": _MEANINGS[status], "content": {PROBLEM: {"schema": ref}}}
        for status in statuses
    }


AUTHENTICATED = responses(401, 403, 422, 429)
"""What any route behind an API key or access token may answer besides success."""


def document(openapi: dict[str, Any]) -> dict[str, Any]:
    """Add the :class:`Problem` schema that :func:`responses` refers to, and the errors
    that any body can cause: too large (the middleware) or not decodable (FastAPI)."""
    schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(schema.pop("$defs", {}))
    schemas["Problem"] = schema
    for operations in openapi.get("paths", {}).values():
        for operation in operations.values():
            body = operation.get("requestBody", {}).get("content", {})
            statuses = (400, 413) if "application/json" in body else (413,) if body else ()
            for status, response in responses(*statuses).items():
                operation["responses"].setdefault(str(status), response)
    return openapi


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
    if isinstance(error, UnavailableError) and error.retry_after_s is not None:
        headers["Retry-After"] = str(max(1, round(error.retry_after_s + 0.499)))
    if isinstance(error, InvalidError) and error.field:
        invalid: dict[str, Any] = {"field": error.field, "message": error.message}
        if error.choices:
            invalid["choices"] = [{"value": v, "label": label} for v, label in error.choices]
        extra["errors"] = [invalid]
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
