"""A call's trace: the call's span (current while the call runs, so its log lines carry
the trace id) and, once it ends, one span per answered turn with a child per stage
(endpoint, stt, brain, tts, playout), drawn from the timestamps the pipeline keeps."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from opentelemetry.trace import Span

from voxplane.observability.tracing import span_between
from voxplane.pipeline.records import TurnMetrics


def trace_turns(call: Span, metrics: Sequence[TurnMetrics]) -> int:
    """Add the turns' spans under ``call``; returns how many turns were traced."""
    if not call.is_recording():
        return 0
    offset_ns = time.time_ns() - round(asyncio.get_running_loop().time() * 1e9)

    def wall(t: float) -> int:
        return offset_ns + round(t * 1e9)

    traced = 0
    for m in metrics:
        if m.first_frame_out is None:
            continue  # the caller hung up (or barged in) before any answer went out
        turn = span_between(
            "turn",
            wall(m.speech_end),
            wall(m.first_frame_out),
            call,
            **{"voxplane.turn": m.turn, "voxplane.speculative_hit": m.speculative_hit},
        )
        commit = None if m.stt_final is None or m.endpoint is None else max(m.stt_final, m.endpoint)
        stages = (
            ("endpoint", m.speech_end, m.endpoint),
            ("stt", m.speech_end, m.stt_final),
            ("brain", commit, m.brain_first_text),
            ("tts", m.brain_first_text, m.tts_first_audio),
            ("playout", m.tts_first_audio, m.first_frame_out),
        )
        for name, start, end in stages:
            if start is not None and end is not None:
                span_between(name, wall(start), wall(end), turn)
        traced += 1
    return traced
