"""OpenTelemetry traces: one span per API request and per webhook delivery, exported over
OTLP/HTTP (Jaeger, Tempo, any collector) when ``VOXPLANE_OTLP_ENDPOINT`` is set.

Without an endpoint nothing is configured and the OpenTelemetry API hands out no-op spans:
a few hundred nanoseconds a request. The entry point calls :func:`configure_tracing`
once; tests install an in-memory exporter through :func:`install_provider` instead. While
a span is current, every JSON log line carries its ``trace_id`` and ``span_id``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from voxplane import __version__

_tracer = trace.get_tracer("voxplane", __version__)


def configure_tracing(endpoint: str | None, *, service: str = "voxplane") -> TracerProvider | None:
    """Export spans to the OTLP/HTTP ``endpoint`` (``http://jaeger:4318/v1/traces``);
    nothing when it is None. Returns the provider, to shut down (flush) at exit."""
    if endpoint is None:
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter,  # imported only when tracing is on: it pulls in protobuf
    )

    return install_provider(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)), service)


def install_provider(processor: SpanProcessor, service: str = "voxplane") -> TracerProvider:
    """Make a provider with ``processor`` the process's (once per process)."""
    resource = Resource.create({"service.name": service, "service.version": __version__})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    return provider


@contextmanager
def span(name: str, *, kind: SpanKind = SpanKind.INTERNAL, **attributes: Any) -> Iterator[Span]:
    """A span around the block, current inside it; an exception marks it failed."""
    with _tracer.start_as_current_span(name, kind=kind, attributes=attributes) as current:
        yield current


@contextmanager
def server_span(scope: Mapping[str, Any]) -> Iterator[Span]:
    """The span of one HTTP request (an ASGI scope), continuing the caller's trace when
    it sent a ``traceparent``; named ``HTTP <method>`` until the route is known."""
    carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    with _tracer.start_as_current_span(
        f"HTTP {scope['method']}",
        context=extract(carrier),
        kind=SpanKind.SERVER,
        attributes={"http.request.method": scope["method"]},
    ) as current:
        yield current


def span_between(
    name: str, start_ns: int, end_ns: int, parent: Span | None = None, **attributes: Any
) -> Span:
    """A span of something already over, from its own clock readings (epoch ns): a call's
    turns and their stages are traced from the timestamps the pipeline keeps, so the
    voice path pays nothing per frame for tracing."""
    context = None if parent is None else trace.set_span_in_context(parent)
    done = _tracer.start_span(name, context=context, start_time=start_ns, attributes=attributes)
    done.end(end_time=max(start_ns, end_ns))
    return done


def failed(current: Span, description: str) -> None:
    current.set_status(Status(StatusCode.ERROR, description))


def trace_headers() -> dict[str, str]:
    """W3C ``traceparent`` for the current span, to send along (webhooks)."""
    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier


def current_ids() -> dict[str, str]:
    """``trace_id`` and ``span_id`` of the current span, for log lines; empty without one."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {"trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}"}
