"""Traces: a span per API request (continuing the caller's trace) and per webhook attempt,
their ids in the JSON logs and in the webhook's ``traceparent``; captured with the SDK's
in-memory exporter (production exports the same spans over OTLP)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from receiver import Receiver
from sqlalchemy import select
from test_api_agents import acme
from test_runtime import caller, inbound, runtime_of, tenant_with_number

from conftest import Tenant, make_settings
from voxplane.api.app import create_app
from voxplane.observability import configure_logging
from voxplane.observability.tracing import install_provider
from voxplane.services.platform import open_platform
from voxplane.services.principal import system_principal
from voxplane.settings import Settings
from voxplane.store.models import OutboxEvent

_EXPORTER = InMemorySpanExporter()
_INSTALLED: list[bool] = []
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    if not _INSTALLED:  # a process has one tracer provider
        install_provider(SimpleSpanProcessor(_EXPORTER))
        _INSTALLED.append(True)
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


@pytest.fixture
def client(database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(database_url, tmp_path, webhook_allow_private_networks=True)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("info", stream)
    yield stream
    root = logging.getLogger()
    for handler in [h for h in root.handlers if type(h).__name__ == "_JsonHandler"]:
        root.removeHandler(handler)


def finished(spans: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in spans.get_finished_spans() if s.name == name]


def test_each_request_is_a_span_named_by_its_route_in_the_callers_trace(
    client: TestClient,
    new_tenant: Callable[..., Tenant],
    spans: InMemorySpanExporter,
    log_lines: io.StringIO,
) -> None:
    tenant = new_tenant()
    agent = client.post("/v1/agents", json=acme(), headers=tenant.auth).json()
    spans.clear()
    headers = {**tenant.auth, "traceparent": TRACEPARENT}
    assert client.get(f"/v1/agents/{agent['id']}", headers=headers).status_code == 200
    assert client.get("/v1/agents/agt_nonesuch", headers=tenant.auth).status_code == 404

    reads = finished(spans, "GET /v1/agents/{agent_id}")
    assert len(reads) == 2  # one server span per request
    (read,) = [s for s in reads if f"{s.context.trace_id:032x}" == TRACE_ID]
    (missing,) = [s for s in reads if s is not read]
    assert read.kind == SpanKind.SERVER
    assert read.attributes is not None
    assert read.attributes["http.route"] == "/v1/agents/{agent_id}"
    assert read.attributes["http.response.status_code"] == 200
    assert f"{read.context.trace_id:032x}" == TRACE_ID  # continues the caller's trace
    assert read.parent is not None and f"{read.parent.span_id:016x}" == "00f067aa0ba902b7"
    assert missing.attributes is not None
    assert missing.attributes["http.response.status_code"] == 404
    assert agent["id"] not in read.name  # ids stay out of span names

    access = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    traced = [e for e in access if e.get("msg") == "request" and e.get("trace_id") == TRACE_ID]
    assert len(traced) == 1 and traced[0]["span_id"] == f"{read.context.span_id:016x}"


def test_a_webhook_attempt_is_a_span_and_carries_its_trace_to_the_receiver(
    client: TestClient, new_tenant: Callable[..., Tenant], spans: InMemorySpanExporter
) -> None:
    receiver = Receiver()
    try:
        tenant = new_tenant()
        body = {"url": receiver.url, "events": ["agent.updated"]}
        hook = client.post("/v1/webhooks", json=body, headers=tenant.auth).json()
        assert client.post("/v1/agents", json=acme(), headers=tenant.auth).status_code == 201

        def ours() -> list[ReadableSpan]:  # the database may hold other tests' deliveries
            return [
                s
                for s in finished(spans, "webhook.deliver")
                if (s.attributes or {}).get("voxplane.webhook_id") == hook["id"]
            ]

        deadline = time.monotonic() + 15
        while not ours() and time.monotonic() < deadline:
            time.sleep(0.05)
        (attempt,) = ours()
        assert attempt.kind == SpanKind.CLIENT
        assert attempt.attributes is not None
        assert attempt.attributes["voxplane.webhook_id"] == hook["id"]
        assert attempt.attributes["voxplane.event_type"] == "agent.updated"
        assert attempt.attributes["http.response.status_code"] == 200
        assert attempt.status.status_code != StatusCode.ERROR
        sent = receiver.received[0].headers["traceparent"]
        assert sent.split("-")[1] == f"{attempt.context.trace_id:032x}"
    finally:
        receiver.close()


MEMBER_AGENT: dict[str, Any] = {
    "name": "member-id",
    "stt": {"provider": "scripted", "transcripts": ["my member number is 4 0 7 1"]},
    "tts": {"provider": "scripted", "ms_per_word": 60},
    "turn": {"vad": "energy"},
    "brain": {
        "type": "flow",
        "start": "ask",
        "nodes": {
            "ask": {
                "gather": {
                    "slot": "member_id",
                    "type": "digits",
                    "min_length": 4,
                    "max_length": 4,
                    "prompt": "What is your member number?",
                },
                "next": "bye",
            },
            "bye": {"say": "Thank you, goodbye.", "action": {"type": "hangup"}},
        },
    },
    "analysis": {
        "fields": {
            "properties": {"member_id": {"type": "integer"}, "plan": {"type": "string"}},
            "required": ["member_id"],
        }
    },
}


def test_a_call_is_a_trace_of_its_turns_and_stages_and_is_analysed(
    settings: Settings, spans: InMemorySpanExporter
) -> None:
    """The call's span holds a span per answered turn, each with its stages; the record
    keeps the trace id, the flow's gathered slot as a typed field, and the outcome, and
    call.analyzed is staged with it."""

    async def main() -> tuple[str, Any, list[dict[str, Any]]]:
        async with open_platform(settings) as platform:
            runtime = runtime_of(platform)
            tenant, number = await tenant_with_number(platform, agent=MEMBER_AGENT)
            admission = await runtime.admit(inbound(number))
            outcome = await runtime.run(admission, caller(900))
            call = await platform.calls.get(system_principal(tenant), outcome.call_id)
            async with platform.db.unit() as session:
                query = select(OutboxEvent.payload).where(
                    OutboxEvent.tenant_id == tenant, OutboxEvent.type == "call.analyzed"
                )
                analyzed = list((await session.scalars(query)).all())
            return outcome.call_id, call, analyzed

    call_id, call, analyzed = asyncio.run(main())
    assert [t.text for t in call.turns][1:] == [
        "my member number is 4 0 7 1",
        "Thank you, goodbye.",
    ]
    assert call.analysis is not None and call.analysis.fields == {"member_id": 4071}
    assert call.outcome == "success" and call.analysis.success is True
    ((event,),) = [analyzed]
    assert event["data"]["call_id"] == call_id and event["data"]["outcome"] == "success"
    assert event["data"]["fields"] == {"member_id": 4071}

    (call_span,) = finished(spans, "call")
    assert call_span.kind == SpanKind.SERVER
    assert call_span.attributes is not None
    assert call_span.attributes["voxplane.call_id"] == call_id
    assert call.trace_id == f"{call_span.context.trace_id:032x}"
    turns = finished(spans, "turn")
    assert len(turns) == 1 and turns[0].parent is not None
    assert turns[0].parent.span_id == call_span.context.span_id
    stages = {s.name: s for s in spans.get_finished_spans() if s.parent == turns[0].context}
    assert set(stages) == {"endpoint", "stt", "brain", "tts", "playout"}
    for stage in stages.values():
        assert stage.start_time is not None and stage.end_time is not None
        assert turns[0].start_time is not None and turns[0].end_time is not None
        assert turns[0].start_time <= stage.start_time <= stage.end_time <= turns[0].end_time
