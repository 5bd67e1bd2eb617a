"""A call's live events: what the tenant's systems hear while the call is going on.

``transcript.final`` for each transcript entry, ``turn.completed`` with the latency of each
answered turn, ``dtmf.received`` for each key, ``transfer.requested`` and then
``transfer.completed`` or ``transfer.failed``. They are staged through the outbox off the
call's path: the pipeline only appends to a bounded list, and one writer per call stages
whatever has accumulated in one transaction, in order. What it has not staged when the
call ends (a busy or failing control plane) goes with the call's record, in the same
transaction, before ``call.ended``. Only a control plane so stalled that a call queues more
than :data:`MAX_PENDING` of them costs events (counted, logged), and never the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from voxplane.errors import ControlError
from voxplane.pipeline.records import TurnMetrics, TurnRecord
from voxplane.services.calls import CallService, LiveBatchItem, LiveEvent
from voxplane.services.principal import runtime_principal
from voxplane.transports.base import AudioSink, AudioSource, CallEvent, CallInfo, Dtmf, Transport

log = logging.getLogger(__name__)

MAX_PENDING = 1000
"""Events waiting for the writer; beyond this a stalled control plane costs events."""
FLUSH_TIMEOUT_S = 5.0


class CallEvents:
    def __init__(
        self,
        calls: CallService,
        tenant_id: str,
        agent_id: str,
        call_id: str,
        *,
        first: Sequence[LiveBatchItem] = (),
        seq: int = 0,
    ) -> None:
        """``first``: events already made (an announcement the control plane did not
        take), staged before any other; ``seq``: the last ``seq`` those announcements
        took (``call.started`` 1, ``call.answered`` 2), after which this call's events
        number on."""
        self._calls = calls
        self._who = runtime_principal(tenant_id)
        self._agent_id = agent_id
        self._call_id = call_id
        self._pending: list[LiveBatchItem] = list(first)
        self._wake = asyncio.Event()
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        self._inflight: list[LiveBatchItem] = []
        self._stopping = False
        self.dropped = 0
        self._seq = seq  # events of one call share a millisecond: consumers order by seq

    def start(self) -> None:
        self._task = asyncio.create_task(self._write_forever(), name=f"events:{self._call_id}")
        if self._pending:
            self._wake.set()

    def add(self, event_type: LiveEvent, **data: Any) -> None:
        """Queue an event of this call; never blocks."""
        if len(self._pending) >= MAX_PENDING:
            self.dropped += 1
            if self.dropped == 1:
                log.error("call events dropped: the control plane is not taking them")
            return
        self._seq += 1
        self._pending.append((event_type, {"call_id": self._call_id, "seq": self._seq, **data}))
        self._wake.set()

    def on_turn(self, record: TurnRecord, metrics: TurnMetrics | None) -> None:
        """A transcript entry (and, for an answer, the latency of the turn it answers)."""
        self.add(
            "transcript.final",
            role=record.role,
            text=record.text,
            start_ms=record.start_ms,
            end_ms=record.end_ms,
            interrupted=record.interrupted,
        )
        if metrics is not None:
            self.add(
                "turn.completed",
                turn=metrics.turn,
                stt_ms=metrics.stt_ms,
                brain_ms=metrics.brain_ms,
                tts_ms=metrics.tts_ms,
                voice_to_voice_ms=metrics.voice_to_voice_ms,
                speculative_hit=metrics.speculative_hit,
            )

    async def close(self) -> list[LiveBatchItem]:
        """Stop the writer once what is queued is staged, waiting up to
        :data:`FLUSH_TIMEOUT_S`; returns, in order, the events it could not stage (a busy
        or failing control plane): the call's record stages them in its own transaction,
        before ``call.ended``, so a slow database delays events but loses none."""
        self._closed = True
        self._wake.set()
        if self._task is None:
            return []
        try:
            async with asyncio.timeout(FLUSH_TIMEOUT_S):
                await asyncio.shield(self._task)
        except TimeoutError:
            self._stopping = True  # the batch in flight finishes; the rest goes with the record
            try:
                async with asyncio.timeout(FLUSH_TIMEOUT_S):
                    await asyncio.shield(self._task)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
                # it may have committed as it was cancelled: at least once, not lost
                self._pending[:0] = self._inflight
                log.warning("call events: a batch timed out and is staged again")
        left, self._pending = self._pending, []
        if left:
            log.warning("call events staged with the call's record", extra={"events": len(left)})
        return left

    async def _write_forever(self) -> None:
        while not self._stopping:
            await self._wake.wait()
            self._wake.clear()
            while self._pending and not self._stopping:
                self._inflight, self._pending = self._pending, []
                try:
                    await self._calls.stage_live(self._who, self._agent_id, self._inflight)
                except ControlError as error:
                    log.warning("call events not staged yet", extra={"error": str(error)})
                    self._pending[:0] = self._inflight  # they go with the call's record
                    self._stopping = True
                self._inflight = []
            if self._closed:
                return


class EventedTransport(Transport):
    """A transport whose keys and transfers are told to :class:`CallEvents`."""

    def __init__(self, inner: Transport, events: CallEvents) -> None:
        self.info: CallInfo = inner.info
        self.source: AudioSource = inner.source
        self.sink: AudioSink = inner.sink
        self.keys_in_band = inner.keys_in_band
        self._inner = inner
        self._events = events

    async def events(self) -> AsyncIterator[CallEvent]:
        async for event in self._inner.events():
            if isinstance(event, Dtmf):
                self._events.add("dtmf.received", key=event.key, duration_ms=event.duration_ms)
            yield event

    async def hang_up(self) -> None:
        await self._inner.hang_up()

    async def transfer(self, target: str) -> None:
        self._events.add("transfer.requested", target=target)
        try:
            await self._inner.transfer(target)
        except Exception as error:
            self._events.add("transfer.failed", target=target, error=str(error)[:500])
            raise
        self._events.add("transfer.completed", target=target)

    async def send_dtmf(self, keys: str) -> None:
        await self._inner.send_dtmf(keys)

    async def aclose(self) -> None:
        await self._inner.aclose()
