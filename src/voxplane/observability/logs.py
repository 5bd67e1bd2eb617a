"""Structured JSON logs, one object per line, with context fields and central redaction.

Messages are static; values go in ``extra`` fields; ``request_id``, ``tenant_id`` and
``call_id`` come from :func:`log_context`. The formatter redacts before anything is
written, so a careless ``extra={"headers": headers}`` cannot leak a credential or a
caller's words::

    with log_context(request_id=rid, tenant_id=tid):
        log.info("credential saved", extra={"provider": "openai", "api_key": key})
    # {"ts": "...", "level": "info", "logger": "...", "msg": "credential saved",
    #  "request_id": "...", "tenant_id": "...", "provider": "openai", "api_key": "[redacted]"}
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, TextIO

from voxplane.errors import ConfigError
from voxplane.observability.pii import redact_pii
from voxplane.observability.tracing import current_ids

REDACTED = "[redacted]"
_SENSITIVE_KEY_PARTS = (
    "password", "secret", "token", "api_key", "apikey", "authorization", "cookie",
    "credential", "key_material", "refresh",
)  # fmt: skip
_CALLER_CONTENT_KEYS = frozenset(
    {"transcript", "text", "caller_text", "utterance", "content", "body"}
)
_MAX_DEPTH = 8
"""Deeper values are dropped rather than walked: logs are no place for whole documents."""

_TOKEN_SHAPES = re.compile(
    r"(?<![A-Za-z0-9])vx[pri]_[A-Za-z0-9_-]{8,}"  # our API keys, refresh and invitation tokens
    r"|eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+\.?[A-Za-z0-9_-]*"  # a JWT
    r"|\b[Bb]earer\s+[A-Za-z0-9._~+/=-]{8,}"  # an Authorization header value
    r"|\bsk-[A-Za-z0-9_-]{16,}",  # provider API keys (OpenAI, Anthropic, ...)
)
_context: ContextVar[Mapping[str, Any]] = ContextVar(
    "voxplane_log_context", default=MappingProxyType({})
)
# the attributes every LogRecord has; anything else on a record came from `extra`
_RECORD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}
_CORE_FIELDS = ("ts", "level", "logger", "msg")
_UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
_SQL_ECHO_LOGGERS = ("sqlalchemy", "aiosqlite")


def redact_text(text: str) -> str:
    """``text`` with token shapes replaced and caller PII redacted as
    :func:`~voxplane.observability.pii.redact_pii` finds it, phone numbers masked but for
    their prefix and last two digits: the same detectors as stored transcripts."""
    return redact_pii(_TOKEN_SHAPES.sub(REDACTED, text), mask_phones=True)


def is_sensitive_key(key: str) -> bool:
    """Whether a value under this field name may be a secret or caller content."""
    lowered = key.lower()
    if lowered in _CALLER_CONTENT_KEYS:
        return True
    return any(part in lowered for part in _SENSITIVE_KEY_PARTS)


def redact(value: Any, _depth: int = 0) -> Any:
    """A JSON-ready copy of ``value`` safe to log.

    Values under secret-looking or caller-content keys are replaced, at any depth; strings
    anywhere go through :func:`redact_text`. Dataclasses and pydantic models are walked like
    dicts; other objects are logged as their ``str``.
    """
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return redact_text(value)
    if _depth >= _MAX_DEPTH:
        return "[too deep]"
    fields = value if isinstance(value, Mapping) else _fields_of(value)
    if fields is not None:
        return {str(key): _redact_field(str(key), item, _depth + 1) for key, item in fields.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(item, _depth + 1) for item in value]
    return redact_text(str(value))


def _redact_field(key: str, value: Any, depth: int) -> Any:
    if is_sensitive_key(key):
        return REDACTED
    if key == "request_id" and isinstance(value, str):
        # a correlation id (ours, or the client's X-Request-ID) is never caller content,
        # and one that happens to be all digits must still match the response header
        return _TOKEN_SHAPES.sub(REDACTED, value)
    return redact(value, depth)


def _fields_of(value: Any) -> Mapping[str, Any] | None:
    """The fields of a dataclass or pydantic model, so that their keys are checked too."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    dump = getattr(value, "model_dump", None)
    if callable(dump) and not isinstance(value, type):
        fields = dump()
        return fields if isinstance(fields, Mapping) else None
    return None


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add ``fields`` to every line logged inside the block, in this task only.

    A field set to None is removed for the block.
    """
    token = bind(**fields)
    try:
        yield
    finally:
        unbind(token)


def bind(**fields: Any) -> Token[Mapping[str, Any]]:
    """Add ``fields`` to the log context until :func:`unbind` is given the returned token."""
    merged = {**_context.get(), **fields}
    return _context.set(MappingProxyType({k: v for k, v in merged.items() if v is not None}))


def unbind(token: Token[Mapping[str, Any]]) -> None:
    """Restore the log context to what it was before the :func:`bind` that made ``token``."""
    _context.reset(token)


def current_context() -> Mapping[str, Any]:
    """The fields bound in this task (read-only)."""
    return _context.get()


class JsonFormatter(logging.Formatter):
    """One JSON object per record: core fields, then context fields, then ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": _timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact_text(record.getMessage()),
        }
        extra = {k: v for k, v in vars(record).items() if k not in _RECORD_ATTRS}
        for fields in (_context.get(), current_ids(), extra):
            for key, value in redact(fields).items():
                line[f"{key}_" if key in _CORE_FIELDS else key] = value
        if record.exc_info and record.exc_info[0] is not None:
            line["exc_type"] = _type_name(record.exc_info[0])
            line["exc"] = redact_text(self.formatException(record.exc_info))
        if record.stack_info:
            line["stack"] = redact_text(self.formatStack(record.stack_info))
        return json.dumps(line, default=str)


def _timestamp(created: float) -> str:
    moment = datetime.fromtimestamp(created, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _type_name(kind: type[BaseException]) -> str:
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


class _JsonHandler(logging.StreamHandler[TextIO]):
    """Our root handler; a class of its own so that configuring twice can find it."""


def configure_logging(level: str = "info", stream: TextIO | None = None) -> None:
    """Send all logs, uvicorn's included, to ``stream`` (stderr) as JSON lines.

    Calling it again replaces the handler it installed; other handlers are left alone.
    Start uvicorn with ``log_config=None`` so that it does not install its own.
    """
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ConfigError(f"unknown log level {level!r}: use debug, info, warning or error")
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _JsonHandler)]:
        root.removeHandler(handler)
        handler.close()
    handler = _JsonHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in _UVICORN_LOGGERS:
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
        uvicorn_logger.setLevel(logging.NOTSET)
    # our own access log replaces uvicorn's; its errors still come through
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # migrations chatter at INFO on every start; their warnings and errors still show
    logging.getLogger("alembic").setLevel(max(numeric, logging.WARNING))
    # database drivers log each statement with its parameters (transcripts, sealed secrets)
    # at debug, past the redaction, which cannot tell a sentence from any other string
    for name in _SQL_ECHO_LOGGERS:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
