"""Observability: structured, PII-safe JSON logs with per-task context.

The entry point calls :func:`configure_logging` once; code logs static messages with
values in ``extra`` and wraps work in :func:`log_context` (``request_id``, ``tenant_id``,
``call_id``). Redaction happens centrally in the formatter; :func:`redact` is the same
treatment for reuse elsewhere (error reports, audit payloads).
"""

from __future__ import annotations

from voxplane.observability.logs import (
    REDACTED,
    JsonFormatter,
    bind,
    configure_logging,
    current_context,
    log_context,
    redact,
    redact_text,
    unbind,
)

__all__ = [
    "REDACTED",
    "JsonFormatter",
    "bind",
    "configure_logging",
    "current_context",
    "log_context",
    "redact",
    "redact_text",
    "unbind",
]
