"""Run real calls against the local models and time each caller turn on the wire.

Two clocks per turn: ``TurnMetrics`` measures from the end of speech as the VAD saw it;
the bench also knows where each caller turn's voice really ended (it built the audio and
watches the simulated line), so it measures from there too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from _audio import Utterance, phone_line
from voxplane.agents.schema import AgentConfig
from voxplane.media.frame import AudioFrame, samples_per_frame
from voxplane.pipeline.records import CallResult, TurnMetrics
from voxplane.runtime.factory import LocalModels
from voxplane.runtime.local import run_call
from voxplane.transports.base import AudioSource
from voxplane.transports.simulated import CallerPolicy, CallerTurn, SimulatedCaller

POLICY = CallerPolicy(agent_idle_ms=500, answer_timeout_s=10.0)
"""The caller answers 0.5 s after the agent goes quiet; gives up on an answer after 10 s."""


class _WatchedSource(AudioSource):
    """Passes the caller's frames through and notes which frame starts each turn."""

    def __init__(self, inner: AudioSource, firsts: Sequence[np.ndarray]) -> None:
        self.sample_rate = inner.sample_rate
        self._inner = inner
        self._firsts = firsts
        self.starts: list[int] = []
        """Index of the frame that started each caller turn."""

    async def frames(self) -> AsyncIterator[AudioFrame]:
        index = 0
        async for frame in self._inner.frames():
            turn = len(self.starts)
            if turn < len(self._firsts) and np.array_equal(frame.samples, self._firsts[turn]):
                self.starts.append(index)
            index += 1
            yield frame


@dataclass(slots=True)
class TurnOutcome:
    """One caller turn: what was said, what the agent heard, and how long it took."""

    utterance: Utterance
    heard: str = ""
    answered: int = 0
    """Pipeline turns (metrics) inside this caller turn: more than one means it was split."""
    vad_end_lag_ms: float | None = None
    """VAD's end of speech minus the true end (positive: the VAD saw it end later)."""
    v2v_true_ms: float | None = None
    metrics: TurnMetrics | None = None
    talked_over: bool = False
    """Agent audio went out while the caller was still saying this turn (seen on the line)."""
    reply: str = ""
    """What the agent said in answer (the transcript's next agent entry)."""


@dataclass(slots=True)
class CallOutcome:
    turns: list[TurnOutcome] = field(default_factory=list)
    ended_by: str = "error"
    error: str | None = None
    seconds: float = 0.0
    false_starts: int = 0
    held_turns: int = 0


def _first_frame(utterance: Utterance, frame_len: int) -> np.ndarray:
    first = np.zeros(frame_len, np.int16)
    head = phone_line(utterance.samples[:frame_len])
    first[: len(head)] = head
    return first


async def timed_call(
    agent: AgentConfig,
    models: LocalModels,
    utterances: Sequence[Utterance],
    timeout_s: float,
    policy: CallerPolicy = POLICY,
) -> CallOutcome:
    """One phone call (8 kHz μ-law both ways) saying ``utterances``; never longer than
    ``timeout_s``."""
    turns = [CallerTurn(u.samples, u.rate) for u in utterances]
    caller = SimulatedCaller(turns, phone=True, policy=policy)
    frame_len = samples_per_frame(caller.sample_rate)
    watched = _WatchedSource(caller.source, [_first_frame(u, frame_len) for u in utterances])
    caller.source = watched  # type: ignore[assignment]
    outcome = CallOutcome([TurnOutcome(u) for u in utterances])
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            result = await run_call(agent, models, caller)
    except TimeoutError:
        outcome.error = f"call did not finish in {timeout_s:.0f}s"
        await caller.hang_up()
        return outcome
    outcome.seconds = time.perf_counter() - started
    outcome.ended_by = result.ended_by
    outcome.false_starts, outcome.held_turns = result.false_starts, result.held_turns
    t0 = caller._line.t0  # the line's clock origin: frame k is sent at t0 + 20 ms * k
    assert t0 is not None
    _match(outcome, result, watched.starts, t0=t0, rate=caller.sample_rate, frame_len=frame_len)
    agent_starts = [position for position, _ in caller._line.agent]
    for index, turn in enumerate(outcome.turns[: len(watched.starts)]):
        begin = watched.starts[index] * frame_len
        end = begin + round(turn.utterance.speech_end_s * caller.sample_rate)
        turn.talked_over = any(begin < p < end for p in agent_starts)
    return outcome


def _match(
    outcome: CallOutcome,
    result: CallResult,
    starts: list[int],
    *,
    t0: float,
    rate: int,
    frame_len: int,
) -> None:
    """Pair the pipeline's turns with the caller turns they fall in.

    The line sends frame k at t0 + 20 ms * k and the pipeline dates its samples as if the
    frame had just been captured, so sample p of the line is spoken at t0 - 20 ms + p / rate.
    """
    said = [t for t in result.turns if t.role == "user"]
    replies = {
        id(record): next((t.text for t in result.turns[i + 1 :] if t.role == "agent"), "")
        for i, record in enumerate(result.turns)
        if record.role == "user"
    }
    windows: list[tuple[float, float]] = []
    for index, turn in enumerate(outcome.turns[: len(starts)]):
        begin = starts[index] * frame_len
        windows.append((t0 - 0.02 + begin / rate, t0 - 0.02 + begin / rate))
        windows[-1] = (windows[-1][0], windows[-1][0] + turn.utterance.speech_end_s)
    for record, metrics in zip(said, result.metrics, strict=False):
        for index, (begin, end) in enumerate(windows):
            following = windows[index + 1][0] if index + 1 < len(windows) else float("inf")
            if begin <= metrics.speech_end < following:
                turn = outcome.turns[index]
                turn.answered += 1
                turn.heard = f"{turn.heard} {record.text}".strip()
                turn.metrics = metrics  # the last part answers the whole turn
                turn.reply = replies[id(record)]
                turn.vad_end_lag_ms = 1000 * (metrics.speech_end - end)
                if metrics.first_frame_out is not None:
                    turn.v2v_true_ms = 1000 * (metrics.first_frame_out - end)
                break
