"""What PII redaction costs: per transcript turn, per call record, per log line.

``.venv/bin/python bench/pii.py`` (a few seconds). Pure CPU, no I/O: the same function
``POST /v1/calls`` runs on every turn under ``pii_policy: redact``, and the log formatter
on every string. Also times the worst body the API accepts (1 MiB of digits and
separators), to show that no input makes the patterns backtrack for long.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from collections.abc import Callable

from voxplane.observability import JsonFormatter
from voxplane.observability.pii import redact_pii

TURNS = [
    "Hi, what are your opening hours?",
    "Great. I'd like to book a cleaning for next Tuesday at ten thirty, please.",
    "My patient number is 4271 and my name is Maria Lopez.",
    "Sure, my card is 4111 1111 1111 1111, expiring 12/27, and my email is "
    "maria dot lopez at example dot com.",
    "You can call me back on (415) 555-0123 any time after 2 pm.",
]


def per_call_us(work: Callable[[], object], repeat: int) -> float:
    """The median over 5 rounds of the mean time of one call, in microseconds."""
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeat):
            work()
        rounds.append((time.perf_counter() - start) / repeat * 1e6)
    return statistics.median(rounds)


def main() -> None:
    turn_us = [per_call_us(lambda t=t: redact_pii(t), 5000) for t in TURNS]
    call = TURNS * 4  # a 20-turn call
    call_us = per_call_us(lambda: [redact_pii(t) for t in call], 500)
    record = logging.LogRecord("voxplane.access", logging.INFO, "", 0, "request", None, None)
    for key, value in {"method": "POST", "path": "/v1/calls", "status": 201, "ms": 3.1}.items():
        setattr(record, key, value)
    formatter = JsonFormatter()
    log_us = per_call_us(lambda: formatter.format(record), 5000)
    worst = ("4111-" * 209_716)[: 1 << 20]
    start = time.perf_counter()
    redact_pii(worst)
    worst_ms = (time.perf_counter() - start) * 1000
    print(
        json.dumps(
            {
                "turn_us": {"median": round(statistics.median(turn_us), 1),
                            "max": round(max(turn_us), 1)},
                "call_20_turns_us": round(call_us, 1),
                "access_log_line_us": round(log_us, 1),
                "worst_1mib_body_ms": round(worst_ms, 1),
            }
        )
    )  # fmt: skip


if __name__ == "__main__":
    main()
