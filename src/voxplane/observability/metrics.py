"""Prometheus metrics: one registry per process, served at ``GET /metrics``.

Every metric is named here, so the dashboards in ``deploy/grafana`` and the alert rules in
``deploy/prometheus`` have one place to match. Labels hold route templates, stage names,
outcomes and tenant ids, never caller content. Observations are a counter or histogram
update each: cheap enough for the call path.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

REGISTRY = CollectorRegistry(auto_describe=True)
CONTENT_TYPE = CONTENT_TYPE_LATEST

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_STAGE_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)

HTTP_LATENCY = Histogram(
    "voxplane_http_request_duration_seconds",
    "API request latency by route template, method and status class.",
    ["route", "method", "status"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
STAGE_LATENCY = Histogram(
    "voxplane_stage_latency_seconds",
    "Per-turn latency of a call stage (stt, brain, tts, voice_to_voice), from call records.",
    ["stage"],
    buckets=_STAGE_BUCKETS,
    registry=REGISTRY,
)
CALLS = Counter(
    "voxplane_calls_total",
    "Calls recorded, by transport and end reason.",
    ["transport", "end_reason"],
    registry=REGISTRY,
)
ACTIVE_CALLS = Gauge(
    "voxplane_active_calls",
    "Calls holding a slot admitted by this process, by tenant.",
    ["tenant"],
    registry=REGISTRY,
)
TTS_CACHE = Counter(
    "voxplane_tts_cache_total",
    "TTS phrase cache lookups during calls, by outcome (hit, miss).",
    ["outcome"],
    registry=REGISTRY,
)
PROVIDER_ERRORS = Counter(
    "voxplane_provider_errors_total",
    "Provider failures during calls, by stage (stt, brain, tts).",
    ["stage"],
    registry=REGISTRY,
)
BREAKER_STATE = Gauge(
    "voxplane_provider_breaker_state",
    "Circuit breaker of a provider (the worst of its accounts): 0 closed, 1 half-open, 2 open.",
    ["provider", "kind"],
    registry=REGISTRY,
)
PROVIDER_FAILURES = Counter(
    "voxplane_provider_failures_total",
    "Failed provider attempts (errors and timeouts) behind a fallback, by provider, kind "
    "(stt, tts, llm) and whether the error was retryable.",
    ["provider", "kind", "retryable"],
    registry=REGISTRY,
)
PROVIDER_FALLBACKS = Counter(
    "voxplane_provider_fallbacks_total",
    "Requests answered by another provider than the first one tried, by kind.",
    ["kind"],
    registry=REGISTRY,
)
EVENTS_PUBLISHED = Counter(
    "voxplane_events_published_total",
    "Events the outbox relay handed to the bus.",
    registry=REGISTRY,
)
WEBHOOK_ATTEMPTS = Counter(
    "voxplane_webhook_attempts_total",
    "Webhook delivery attempts by outcome (delivered, retry, dead).",
    ["outcome"],
    registry=REGISTRY,
)
WEBHOOK_LATENCY = Histogram(
    "voxplane_webhook_attempt_duration_seconds",
    "How long one webhook attempt took, answered or not.",
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
BACKLOG = Gauge(
    "voxplane_queue_depth",
    "Work waiting: outbox (unpublished events), webhooks (deliveries due or retrying), "
    "bus (events in the webhook queue).",
    ["queue"],
    registry=REGISTRY,
)

STAGES = ("stt", "brain", "tts", "voice_to_voice")


def observe_turns(latencies: list[dict[str, int | None]]) -> None:
    """Feed the stage histograms from a call record's per-turn latencies (milliseconds)."""
    for turn in latencies:
        for stage in STAGES:
            value = turn.get(f"{stage}_ms")
            if value is not None:
                STAGE_LATENCY.labels(stage).observe(value / 1000)


def status_class(status: int) -> str:
    return f"{status // 100}xx"


def exposition() -> bytes:
    """The registry in the Prometheus text format."""
    return generate_latest(REGISTRY)
