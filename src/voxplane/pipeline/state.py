"""What the parts of one call share: its record, its clock, the committed caller turns."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from voxplane.pipeline.records import CallResult, EndReason, TurnMetrics, TurnRecord

T = TypeVar("T")

TURN_QUEUE_SIZE = 4
"""Committed caller turns waiting for the responder; more means the brain fell far behind."""


@dataclass(slots=True)
class UserTurn:
    """A caller turn the listener committed, with its transcript on the way."""

    start_ms: float
    end_ms: float
    transcript: asyncio.Task[tuple[str, float]]
    """The words and the loop time they were final."""
    heard_from_ms: float
    """Where the transcribed audio starts: before ``start_ms`` when it joins a held turn."""
    metrics: TurnMetrics
    overlapped: bool
    """The agent was speaking when this turn ended."""
    barged_in: bool
    """The agent was cut while the caller said it."""
    continues: bool
    """The caller only paused: this continues the turn answered last."""
    softened: bool = False
    """The agent's audio was paused or lowered while the caller said it (soft barge-in):
    the turn's words decide whether the agent is cut or goes on."""


@dataclass(slots=True)
class Answered:
    """The last caller turn the brain answered, kept so a continuation can replace it."""

    text: str
    checkpoint: object | None
    record: TurnRecord
    metrics: TurnMetrics
    cut: bool = False
    """The answer had started playing when it was stopped."""


class CallState:
    """One call's record, clock and shared counters; every part of the call holds it."""

    def __init__(self, on_turn: Callable[[TurnRecord], None] | None) -> None:
        self.result = CallResult(ended_by="caller_hangup")
        self.turns: asyncio.Queue[UserTurn] = asyncio.Queue(TURN_QUEUE_SIZE)
        self.done = asyncio.Event()
        self.group: asyncio.TaskGroup | None = None
        self.t0 = 0.0
        self.offset = 0.0  # loop time minus caller-audio time, in seconds
        self.busy = 0  # caller turns queued or being answered
        self.last_activity = 0.0
        self.reprompts = 0
        self.turn_count = 0
        self.closing = False  # the call's last words are playing: nothing may cut them
        self.answered: Answered | None = None
        self._on_turn = on_turn

    def start(self, group: asyncio.TaskGroup) -> None:
        self.group = group
        self.t0 = self.last_activity = self.offset = asyncio.get_running_loop().time()

    def spawn(self, work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """A task of the call: ending the call cancels and awaits it."""
        assert self.group is not None
        return self.group.create_task(work)

    @property
    def over(self) -> bool:
        return self.done.is_set()

    def end(self, reason: EndReason, transfer_target: str | None = None) -> None:
        if not self.done.is_set():
            self.result.ended_by = reason
            self.result.transfer_target = transfer_target
            self.done.set()

    def call_ms(self, loop_time: float) -> int:
        return round(1000 * (loop_time - self.t0))

    def wall(self, audio_ms: float) -> float:
        """The loop time when caller audio at ``audio_ms`` arrived."""
        return audio_ms / 1000 + self.offset

    def add_turn(self, record: TurnRecord) -> None:
        self.result.turns.append(record)
        if self._on_turn is not None:
            self._on_turn(record)

    def provider_failed(self, kind: str) -> None:
        """Count a provider failure (after retries) in the call's record."""
        errors = self.result.provider_errors
        errors[kind] = errors.get(kind, 0) + 1
