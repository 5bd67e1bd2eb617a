"""Call analytics: calls per outcome, end reason, agent and day, and latency percentiles,
over a window of days (UTC). The outcome comes from each call's post-call analysis."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from voxplane.errors import InvalidError
from voxplane.services.principal import Principal
from voxplane.services.schemas import (
    AgentAnalytics,
    AnalyticsPublic,
    DayAnalytics,
    LatencyPercentiles,
    OutcomeCounts,
)
from voxplane.store.analytics import CallAnalyticsRepo
from voxplane.store.db import Database

MAX_DAYS = 366
DAY_ROWS = 100_000
"""At most this many calls are read to count calls per day; beyond, ``days_complete`` is
false (the totals, per outcome, end reason and agent, are counted in SQL and stay whole)."""
LATENCY_CALLS = 2_000
"""Latency percentiles are over the turns of this many most recent calls of the window."""
STAGES: dict[Literal["voice_to_voice", "stt", "brain", "tts"], str] = {
    "voice_to_voice": "voice_to_voice_ms",
    "stt": "stt_ms",
    "brain": "brain_ms",
    "tts": "tts_ms",
}


class AnalyticsService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def summary(
        self, who: Principal, start: date, end: date, agent_id: str | None = None
    ) -> AnalyticsPublic:
        who.require("calls:read")
        if end < start:
            raise InvalidError("'to' is before 'from'", field="to")
        if end - start > timedelta(days=MAX_DAYS):
            raise InvalidError(f"at most {MAX_DAYS} days at a time", field="to")
        since = datetime.combine(start, time(), UTC)
        until = datetime.combine(end + timedelta(days=1), time(), UTC)
        async with self.db.unit() as session:
            repo = CallAnalyticsRepo(session)
            counts = await repo.counts(who.tenant_id, since, until, agent_id)
            starts = await repo.starts(who.tenant_id, since, until, agent_id, DAY_ROWS + 1)
            metrics = await repo.latest_metrics(
                who.tenant_id, since, until, agent_id, LATENCY_CALLS
            )
        outcomes: Counter[str] = Counter()
        reasons: Counter[str] = Counter()
        per_agent: dict[str, tuple[Counter[str], list[float]]] = defaultdict(
            lambda: (Counter(), [0.0])
        )
        for agent, outcome, reason, calls, seconds in counts:
            outcomes[outcome] += calls
            reasons[reason] += calls
            agent_outcomes, agent_seconds = per_agent[agent]
            agent_outcomes[outcome] += calls
            agent_seconds[0] += seconds
        per_day: dict[date, tuple[Counter[str], list[float]]] = defaultdict(
            lambda: (Counter(), [0.0])
        )
        for started, outcome, seconds in starts[:DAY_ROWS]:
            day_outcomes, day_seconds = per_day[started.astimezone(UTC).date()]
            day_outcomes[outcome] += 1
            day_seconds[0] += seconds
        return AnalyticsPublic(
            start=start,
            end=end,
            calls=sum(outcomes.values()),
            minutes=round(sum(s for _, _, _, _, s in counts) / 60, 2),
            outcomes=_outcomes(outcomes),
            end_reasons=dict(sorted(reasons.items())),
            agents=[
                AgentAnalytics(
                    agent_id=agent,
                    calls=sum(found.values()),
                    minutes=round(seconds[0] / 60, 2),
                    outcomes=_outcomes(found),
                )
                for agent, (found, seconds) in sorted(per_agent.items())
            ],
            days=[
                DayAnalytics(
                    day=day,
                    calls=sum(found.values()),
                    minutes=round(seconds[0] / 60, 2),
                    outcomes=_outcomes(found),
                )
                for day, (found, seconds) in sorted(per_day.items())
            ],
            latency_ms={
                stage: _percentiles(
                    [t[key] for turns in metrics for t in turns if t.get(key) is not None]
                )
                for stage, key in STAGES.items()
            },
            latency_calls=len(metrics),
            days_complete=len(starts) <= DAY_ROWS,
        )


def _outcomes(found: Counter[str]) -> OutcomeCounts:
    return OutcomeCounts(
        success=found["success"], failure=found["failure"], unknown=found["unknown"]
    )


def _percentiles(values: list[float]) -> LatencyPercentiles:
    """Nearest-rank p50 and p95 (None without turns)."""
    if not values:
        return LatencyPercentiles(p50=None, p95=None, turns=0)
    ordered = sorted(values)

    def rank(p: float) -> float:
        return float(ordered[max(0, math.ceil(p * len(ordered)) - 1)])

    return LatencyPercentiles(p50=rank(0.50), p95=rank(0.95), turns=len(ordered))
