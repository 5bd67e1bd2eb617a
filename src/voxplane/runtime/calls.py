"""The call runtime: how a transport hands a call to an agent, and what the call leaves.

Every transport (SIP, Twilio and Telnyx media streams, later WebRTC) uses it in two steps,
so it can refuse a call *before* anything starts (SIP answers 404/486/403/503 instead of
200; a media-stream webhook answers ``<Reject>``)::

    try:
        admission = await runtime.admit(CallInfo(call_id, "sip", "inbound", caller, dialled))
    except CallRefused as refused:
        reply(refused.sip_status, refused.sip_phrase)   # nothing to clean up
        return
    ...  # answer the call (SIP 200 / ACK, the stream's start message) and build the Transport
    if the answer failed:
        await runtime.abandon(admission)                # frees the call slot
    else:
        outcome = await runtime.run(admission, transport)   # to the call's end; never raises
                                                            # for the call's own failures

A transport that already knows the agent (a WebRTC call token names it) admits with
:meth:`CallRuntime.admit` with its :class:`Route` instead of a dialled number.

:meth:`CallRuntime.admit` routes the dialled number (``PhoneNumberService.route``), takes a
concurrent-call lease and checks the month's minutes (``CallService.admit``), loads the
agent version the number points at and builds its providers. :meth:`CallRuntime.run` runs
the :class:`CallSession`, renews the lease while the call lasts, then records the call
(CDR, transcript, per-turn latency, agent version) as the tenant's runtime principal,
releases the lease and closes the transport. The call's stereo recording (caller left,
agent right; ``runtime.recording``) is taken here, for every transport, unless the agent
says ``call.record: false``. Every log line of the call carries
``call_id`` (the id of its record) and ``tenant_id``.

On SIGTERM, :meth:`CallRuntime.drain` refuses new calls (``draining``: SIP 503), lets calls
in progress finish for up to ``shutdown_grace_s``, ends the rest (``end_reason:
shutdown``) and returns once every record is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from opentelemetry.trace import SpanKind

from voxplane.agents.flow import is_emergency_number
from voxplane.agents.schema import AgentConfig
from voxplane.errors import CallError, ConfigError, ControlError, LimitError, NotFoundError
from voxplane.observability.logs import bind, unbind
from voxplane.observability.tracing import current_ids, span
from voxplane.pipeline.records import (
    CallResult,
    EndReason,
    TurnMetrics,
    TurnRecord,
    result_document,
)
from voxplane.pipeline.session import CallParts, CallSession
from voxplane.runtime.analysis import analyse_call
from voxplane.runtime.call_events import CallEvents, EventedTransport
from voxplane.runtime.call_trace import trace_turns
from voxplane.runtime.factory import ProviderFactory
from voxplane.runtime.recording import RECORDING_RATE, CallRecorder, RecordedTransport
from voxplane.services.agents import AgentService
from voxplane.services.calls import CallService, LiveBatchItem
from voxplane.services.numbers import PhoneNumberService
from voxplane.services.principal import runtime_principal
from voxplane.services.schemas import CallCreate, CallProgress, Route
from voxplane.sessions import Lease
from voxplane.store.ids import new_id
from voxplane.store.recordings import RecordingStore
from voxplane.transports.base import CallInfo, Transport

log = logging.getLogger(__name__)

RefusalReason = Literal[
    "unknown_number", "busy", "quota", "draining", "unavailable", "over_capacity"
]
_SIP: dict[RefusalReason, tuple[int, str]] = {
    "unknown_number": (404, "Not Found"),
    "busy": (486, "Busy Here"),
    "quota": (403, "Forbidden"),
    "draining": (503, "Service Unavailable"),
    "unavailable": (503, "Service Unavailable"),
    "over_capacity": (503, "Service Unavailable"),
}
OVER_CAPACITY_RETRY_S = 5.0
"""The Retry-After of a call refused because the worker is full: about a short call's length."""
REFUSAL_RECORD_S = 2.0
"""How long recording a refused call may hold up the refusal; past it the record is dropped."""
RECORD_ATTEMPTS = 3
SHUTDOWN_END_S = 5.0
"""After the grace period, how long calls ended by the shutdown get to write their records."""


class CallRefused(CallError):
    """The runtime will not take this call. Nothing has started: no lease, no providers.

    ``reason`` says why; :attr:`sip_status` / :attr:`sip_phrase` are the SIP answer
    (404 unknown number, 486 all the tenant's call slots busy, 403 monthly minutes used
    up, 503 draining, a backend down or the worker over its capacity), and
    :attr:`retry_after_s` when the caller should try again (``Retry-After``).
    ``call_id`` is the id of the call's record when the refusal was recorded
    (``over_capacity``)."""

    def __init__(self, reason: RefusalReason, message: str, *, call_id: str | None = None) -> None:
        retryable = reason in ("busy", "draining", "unavailable", "over_capacity")
        super().__init__(message, retryable=retryable)
        self.reason: RefusalReason = reason
        self.call_id = call_id

    @property
    def retry_after_s(self) -> float | None:
        return OVER_CAPACITY_RETRY_S if self.reason == "over_capacity" else None

    @property
    def sip_status(self) -> int:
        return _SIP[self.reason][0]

    @property
    def sip_phrase(self) -> str:
        return _SIP[self.reason][1]


@dataclass(slots=True)
class Admission:
    """A call the runtime has accepted but not started: its slot is held until
    :meth:`CallRuntime.run` ends or :meth:`CallRuntime.abandon` frees it."""

    call_id: str
    """The id of the call's record, bound into its log lines."""
    info: CallInfo
    route: Route
    agent: AgentConfig
    parts: CallParts
    lease: Lease
    started_at: datetime
    settled: bool = field(default=False)
    unannounced: list[LiveBatchItem] = field(default_factory=list)
    """``call.started``/``call.answered`` the control plane did not take when announced:
    staged before the call's live events, or else with its record (never lost)."""
    seq: int = 0
    """The last ``seq`` given to one of the call's events: the live events number on."""


@dataclass(frozen=True, slots=True)
class CallOutcome:
    call_id: str
    result: CallResult
    recorded: bool
    """False when the record could not be written (logged as an error)."""


TurnObserver = Callable[[TurnRecord, TurnMetrics | None], None]
"""Sees each transcript entry as it is recorded; agent entries come with the latency of
the caller turn they answer (None for the greeting and the pipeline's own words)."""


class _Relay:
    """The session's ``on_turn``: passes each entry on with the latency of the answer it
    ends, once that latency is complete (each turn's once)."""

    def __init__(self, on_turn: TurnObserver) -> None:
        self._on_turn = on_turn
        self._told: set[int] = set()
        self.session: CallSession | None = None

    def __call__(self, record: TurnRecord) -> None:
        metrics = None
        if record.role == "agent" and self.session is not None:
            done = [m for m in self.session.metrics if m.complete and m.turn not in self._told]
            if done:
                metrics = done[-1]
                self._told.add(metrics.turn)
        self._on_turn(record, metrics)


class CallRuntime:
    """Admits, runs and records calls for every transport of this process."""

    def __init__(
        self,
        numbers: PhoneNumberService,
        agents: AgentService,
        calls: CallService,
        factory: ProviderFactory,
        *,
        shutdown_grace_s: float,
        recordings: RecordingStore | None = None,
        max_calls: int | None = None,
    ) -> None:
        self._numbers = numbers
        self._max_calls = max_calls
        self._recordings = recordings
        self._agents = agents
        self._calls = calls
        self._factory = factory
        self._grace_s = shutdown_grace_s
        self._sessions: dict[str, CallSession] = {}
        self._transports: dict[str, Transport] = {}
        self._admitted = 0  # admitted, not yet finished (running or waiting to start)
        self._idle = asyncio.Event()
        self._idle.set()
        self.draining = False

    @property
    def active_calls(self) -> int:
        return self._admitted

    @property
    def max_calls(self) -> int | None:
        """The calls this worker runs at once before it refuses more; None: no limit."""
        return self._max_calls

    def over_capacity(self) -> bool:
        """Whether a new call now would exceed this worker's capacity."""
        return self._max_calls is not None and self._admitted >= self._max_calls

    # --- admission ------------------------------------------------------------------

    async def admit(self, info: CallInfo, route: Route | None = None) -> Admission:
        """Route, take a call slot, load the agent and build its providers, or raise
        :class:`CallRefused` with nothing held. A call whose agent is already known passes
        its ``route``: an outbound call placed through the API (tenant, chosen agent,
        calling number), a WebRTC call (its call token's agent)."""
        if self.draining:
            raise CallRefused("draining", "this worker is shutting down")
        if info.direction == "outbound" and is_emergency_number(info.to_number or ""):
            raise CallRefused("unknown_number", "emergency numbers are never dialled by an agent")
        if route is None:
            dialled = info.to_number if info.direction == "inbound" else info.from_number
            if not dialled or is_emergency_number(dialled):
                raise CallRefused("unknown_number", "no agent answers this number")
            route = await self._route(dialled)
        if self.over_capacity():
            raise await self._refuse_over_capacity(info, route)
        self._admitted += 1  # the slot is held from here, so racing admissions see it
        self._idle.clear()
        try:
            lease = await self._lease(info, route)
            try:
                agent = await self._agent(route)
                parts = await self._parts(agent, route)
            except BaseException:
                await self._calls.finish(lease)
                raise
        except BaseException:
            self._settle()
            raise
        admission = Admission(new_id("cal"), info, route, agent, parts, lease, datetime.now(UTC))
        await self._announce(admission, "call.started")
        return admission

    async def _lease(self, info: CallInfo, route: Route) -> Lease:
        holder = f"{info.transport}:{info.call_id}"
        try:
            return await self._calls.admit(route.tenant_id, holder)
        except LimitError as error:
            reason: RefusalReason = "busy" if error.kind == "concurrent_calls" else "quota"
            raise CallRefused(reason, str(error)) from error
        except NotFoundError as error:
            raise CallRefused("unknown_number", "no agent answers this number") from error
        except ControlError as error:
            raise CallRefused("unavailable", str(error)) from error

    async def _refuse_over_capacity(self, info: CallInfo, route: Route) -> CallRefused:
        """The refusal of a call this worker has no room for, recorded as the tenant's
        call (``end_reason: over_capacity``, never answered) when the store allows."""
        call_id: str | None = new_id("cal")
        log.warning(
            "call refused: over capacity",
            extra={"active_calls": self._admitted, "max_calls": self._max_calls},
        )
        now = datetime.now(UTC)
        try:
            body = self._call_body(
                route, info, started=now, answered=None, ended=now, end_reason="over_capacity"
            )
            async with asyncio.timeout(REFUSAL_RECORD_S):
                await self._calls.record(runtime_principal(route.tenant_id), body, call_id=call_id)
        except (ControlError, TimeoutError, ValueError) as error:  # ValueError: odd numbers
            log.warning("refused call not recorded", extra={"error": str(error) or "timeout"})
            call_id = None
        message = f"this worker is at its capacity of {self._max_calls} calls"
        return CallRefused("over_capacity", message, call_id=call_id)

    async def _announce(
        self,
        admission: Admission,
        event_type: Literal["call.started", "call.answered"],
        answered_at: datetime | None = None,
    ) -> None:
        """Tell the tenant's systems (outbox → bus → webhooks). An event the control plane
        cannot take now waits in ``admission.unannounced`` (and so does any after it, to
        keep the order): the call's event writer, or else its record, stages it later."""
        info = admission.info
        admission.seq += 1
        progress = CallProgress(
            call_id=admission.call_id,
            agent_id=admission.route.agent_id,
            agent_version=admission.route.agent_version,
            direction=info.direction,
            transport=info.transport,
            from_number=info.from_number,
            to_number=info.to_number,
            started_at=admission.started_at,
            answered_at=answered_at,
            seq=admission.seq,
        )
        if not admission.unannounced:
            try:
                await self._calls.announce(
                    runtime_principal(admission.route.tenant_id), event_type, progress
                )
                return
            except ControlError as error:
                log.warning(
                    "call event not staged yet", extra={"event": event_type, "error": str(error)}
                )
        admission.unannounced.append((event_type, progress.model_dump(mode="json")))

    async def _route(self, dialled: str) -> Route:
        try:
            route = await self._numbers.route(dialled)
        except ControlError as error:
            raise CallRefused("unavailable", str(error)) from error
        if route is None:
            raise CallRefused("unknown_number", "no agent answers this number")
        return route

    async def _parts(self, agent: AgentConfig, route: Route) -> CallParts:
        try:
            return await self._factory.build(agent, route.tenant_id)
        except ConfigError as error:  # a provider's key is missing: the agent cannot run
            log.error("agent cannot run", extra={"error": str(error)})
            raise CallRefused("unavailable", "the number's agent cannot run") from error

    async def _agent(self, route: Route) -> AgentConfig:
        who = runtime_principal(route.tenant_id)
        try:
            version = await self._agents.version(who, route.agent_id, route.agent_version)
            return AgentConfig.model_validate(version.document)
        except NotFoundError as error:
            raise CallRefused("unknown_number", "the number's agent is gone") from error
        except (ControlError, ValueError) as error:
            log.error("agent cannot run", extra={"error": str(error)})
            raise CallRefused("unavailable", "the number's agent cannot run") from error

    async def abandon(self, admission: Admission, end_reason: EndReason | None = None) -> None:
        """Free an admitted call that never started (the caller left before the answer).

        With ``end_reason`` the call is recorded first, unanswered (no ``answered_at``, no
        turns): an outbound call that was busy, declined, not answered or failed."""
        if admission.settled:
            return
        admission.settled = True
        token = bind(call_id=admission.call_id, tenant_id=admission.route.tenant_id)
        try:
            if end_reason is not None:
                log.info("call not answered", extra={"end_reason": end_reason})
                result = CallResult(ended_by=end_reason)
                await self._record(admission, result, None, datetime.now(UTC))
        finally:
            await self._release(admission)
            unbind(token)

    # --- running --------------------------------------------------------------------

    async def run(
        self, admission: Admission, transport: Transport, on_turn: TurnObserver | None = None
    ) -> CallOutcome:
        """Run the call over ``transport`` to its end, record it, free its slot and close
        the transport. The call's own failures end it (``end_reason: error``); they do
        not propagate. ``on_turn`` sees each transcript entry as it is recorded, with the
        latency of the turn it answers (agent entries), for live progress."""
        if admission.settled:
            raise CallError("this admission has already been used")
        admission.settled = True
        token = bind(call_id=admission.call_id, tenant_id=admission.route.tenant_id)
        attributes = {
            "voxplane.call_id": admission.call_id,
            "voxplane.tenant_id": admission.route.tenant_id,
            "voxplane.agent_id": admission.route.agent_id,
            "voxplane.transport": admission.info.transport,
            "voxplane.direction": admission.info.direction,
        }
        try:
            with span("call", kind=SpanKind.SERVER, **attributes) as call_span:
                log.info(
                    "call started",
                    extra={
                        "transport": admission.info.transport,
                        "agent_id": admission.route.agent_id,
                    },
                )
                answered_at = datetime.now(UTC)
                await self._announce(admission, "call.answered", answered_at)
                recorder = await self._recorder(admission)
                result, unstaged = await self._converse(admission, transport, recorder, on_turn)
                ended_at = datetime.now(UTC)
                if recorder is not None:
                    await recorder.close()
                trace_turns(call_span, result.metrics)
                call_span.set_attribute("voxplane.end_reason", result.ended_by)
                trace_id = current_ids().get("trace_id")
                recorded = await self._record(
                    admission, result, answered_at, ended_at, trace_id, unstaged=unstaged
                )
                log.info("call ended", extra={"end_reason": result.ended_by})
                return CallOutcome(admission.call_id, result, recorded)
        finally:
            with contextlib.suppress(Exception):
                await transport.aclose()
            await self._release(admission)
            unbind(token)

    async def _recorder(self, admission: Admission) -> CallRecorder | None:
        if self._recordings is None or not admission.agent.call.record:
            return None
        try:
            writer = await self._recordings.create(
                admission.route.tenant_id, admission.call_id, RECORDING_RATE
            )
        except OSError as error:
            log.error("call recording not started", extra={"error": str(error)})
            return None
        return CallRecorder(writer)

    async def _converse(
        self,
        admission: Admission,
        transport: Transport,
        recorder: CallRecorder | None,
        on_turn: TurnObserver | None,
    ) -> tuple[CallResult, list[LiveBatchItem]]:
        """The call, and the events of it not staged yet (they go with its record)."""
        agent = admission.agent
        if recorder is not None:
            transport = RecordedTransport(transport, recorder)
        events = CallEvents(
            self._calls,
            admission.route.tenant_id,
            admission.route.agent_id,
            admission.call_id,
            first=admission.unannounced,
            seq=admission.seq,
        )
        admission.unannounced = []  # the writer has them now
        transport = EventedTransport(transport, events)

        def observe(record: TurnRecord, metrics: TurnMetrics | None) -> None:
            events.on_turn(record, metrics)
            if on_turn is not None:
                on_turn(record, metrics)

        admission.parts.brain.on_tool = lambda tool: events.add(
            "tool.called", name=tool.name, ok=tool.ok, duration_ms=tool.duration_ms
        )
        relay = _Relay(observe)
        session = CallSession(admission.parts, transport, agent.turn, agent.call, relay)
        relay.session = session
        self._sessions[admission.call_id] = session
        self._transports[admission.call_id] = transport
        events.start()
        ended = asyncio.Event()
        try:
            async with asyncio.TaskGroup() as group:
                helpers = [group.create_task(self._keep_alive(admission, ended))]
                if recorder is not None:
                    helpers.append(group.create_task(recorder.flush_forever()))
                try:
                    result = await session.run()
                finally:
                    ended.set()
                    for helper in helpers:
                        helper.cancel()
        except* Exception as errors:  # a failed call is recorded as one; the worker goes on
            log.error("call failed", extra={"error": "; ".join(map(repr, errors.exceptions))})
            result = CallResult(ended_by="error")
        finally:
            del self._sessions[admission.call_id]
            del self._transports[admission.call_id]
            unstaged = await events.close()
        if result.ended_by in ("shutdown", "error"):
            with contextlib.suppress(Exception):
                await transport.hang_up()
        return result, unstaged

    async def _keep_alive(self, admission: Admission, ended: asyncio.Event) -> None:
        """Renew the call's lease until the call has ``ended``. Not only until cancelled:
        the call waits for this task, and a renewal may swallow the cancel (redis-py on
        Python 3.11 did: the call then renewed its lease, and never ended, forever)."""
        period = max(1.0, self._calls.lease_ttl_s / 3)
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(period):
                    await ended.wait()
            if ended.is_set():
                return
            try:
                renewed = await self._calls.keep_alive(admission.lease)
            except ControlError as error:
                log.warning("call lease not renewed", extra={"error": str(error)})
                continue
            if renewed is None:
                log.warning("call lease lost; the call goes on")
            else:
                admission.lease = renewed

    async def _record(
        self,
        admission: Admission,
        result: CallResult,
        answered: datetime | None,
        ended: datetime,
        trace_id: str | None = None,
        *,
        unstaged: Sequence[LiveBatchItem] = (),
    ) -> bool:
        document = result_document(admission.agent.name, result)
        analysis = await analyse_call(admission.agent.analysis, admission.parts.brain, result.turns)
        body = self._call_body(
            admission.route,
            admission.info,
            started=admission.started_at,
            answered=answered,
            ended=ended,
            end_reason=result.ended_by,
            more={
                "usage": {
                    "audio_s": round(result.caller_audio_ms / 1000, 3),
                    "stt_s": round(result.stt_audio_ms / 1000, 3),
                    "tts_chars": result.tts_characters,
                    # the analysis just asked the same metered model: counted here too
                    "llm_tokens": admission.parts.brain.llm_tokens(),
                },
                "false_starts": result.false_starts,
                "held_turns": result.held_turns,
                "provider_errors": result.provider_errors,
                "soft_barge_ins": result.soft_barge_ins,
                "resumed_after_backchannel": result.resumed_after_backchannel,
                "turns": document["turns"],
                "metrics": document["metrics"],
                "trace_id": trace_id,
            },
        ).model_copy(update={"analysis": analysis})
        who = runtime_principal(admission.route.tenant_id)
        live = [*admission.unannounced, *unstaged]  # unannounced: an abandoned call's
        for attempt in range(1, RECORD_ATTEMPTS + 1):
            try:
                await self._calls.record(who, body, call_id=admission.call_id, live=live)
                return True
            except ControlError as error:
                if not error.retryable or attempt == RECORD_ATTEMPTS:
                    log.error("call record not written", extra={"error": str(error)})
                    return False
                await asyncio.sleep(0.5 * attempt)
        return False

    @staticmethod
    def _call_body(
        route: Route,
        info: CallInfo,
        *,
        started: datetime,
        answered: datetime | None,
        ended: datetime,
        end_reason: str,
        more: dict[str, Any] | None = None,
    ) -> CallCreate:
        return CallCreate.model_validate(
            {
                "agent_id": route.agent_id,
                "agent_version": route.agent_version,
                "direction": info.direction,
                "transport": info.transport,
                "transport_call_id": info.call_id[:128],
                "from_number": info.from_number,
                "to_number": info.to_number,
                "started_at": started,
                "answered_at": answered,
                "ended_at": ended,
                "end_reason": end_reason,
                **(more or {}),
            }
        )

    async def _release(self, admission: Admission) -> None:
        with contextlib.suppress(Exception):  # connections only: nothing left to lose
            await admission.parts.brain.aclose()
        with contextlib.suppress(Exception):
            await admission.parts.tts.aclose()
        try:
            await self._calls.finish(admission.lease)
        except ControlError as error:  # the lease expires on its own
            log.warning("call lease not released", extra={"error": str(error)})
        self._settle()

    def _settle(self) -> None:
        """A call slot is free again."""
        self._admitted -= 1
        if self._admitted == 0:
            self._idle.set()

    # --- shutdown -------------------------------------------------------------------

    async def drain(self) -> None:
        """Refuse new calls; let calls in progress finish for up to ``shutdown_grace_s``;
        end the rest; return once every call's record is written."""
        self.draining = True
        if self._admitted:
            log.info("draining calls", extra={"calls": self._admitted})
        try:
            async with asyncio.timeout(self._grace_s):
                await self._idle.wait()
            return
        except TimeoutError:
            pass
        for session in list(self._sessions.values()):
            session.end("shutdown")
        if await self._idle_within(SHUTDOWN_END_S):
            return
        # Still running although told to end: a call whose agent has left but whose line
        # is still up (a transfer bridged through this worker). Hang those lines up.
        for transport in list(self._transports.values()):
            asyncio.get_running_loop().create_task(_hang_up_quietly(transport))
        if not await self._idle_within(SHUTDOWN_END_S):
            log.error("calls still running at shutdown", extra={"calls": self._admitted})

    async def _idle_within(self, seconds: float) -> bool:
        try:
            async with asyncio.timeout(seconds):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True


async def _hang_up_quietly(transport: Transport) -> None:
    with contextlib.suppress(Exception):
        await transport.hang_up()
