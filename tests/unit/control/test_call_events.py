"""A call's live events: keys and transfers seen through the transport, staged in order
off the call's path, redacted as the tenant's policy says. The control plane is a
scripted stand-in here (``StagingLog``); tests/integration/test_runtime.py runs it real."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from voxplane.errors import UnavailableError
from voxplane.observability.pii import mask_number
from voxplane.runtime import call_events
from voxplane.runtime.call_events import CallEvents, EventedTransport
from voxplane.runtime.recording import CallRecorder, RecordedTransport
from voxplane.services.calls import _redacted_live
from voxplane.transports.base import CallEvent, Dtmf
from voxplane.transports.simulated import SimulatedCaller
from voxplane.transports.twilio.stream import MediaStreamTransport


class StagingLog:
    """Scripted stand-in for ``CallService.stage_live``: keeps each staged batch."""

    def __init__(self, *, fail: bool = False, stall: bool = False) -> None:
        self.batches: list[list[tuple[str, dict[str, Any]]]] = []
        self.fail = fail
        self.stall = stall

    async def stage_live(self, who: object, agent_id: str, batch: Any) -> None:
        if self.stall:
            await asyncio.Event().wait()
        if self.fail:
            raise UnavailableError("database down")
        self.batches.append(list(batch))

    @property
    def staged(self) -> list[tuple[str, dict[str, Any]]]:
        return [event for batch in self.batches for event in batch]


def events_for(log: StagingLog) -> CallEvents:
    return CallEvents(log, "ten_1", "agt_1", "cal_1")  # type: ignore[arg-type]


class KeyPresser(SimulatedCaller):
    """A caller whose keys come straight out of ``events()``."""

    async def events(self) -> AsyncIterator[CallEvent]:
        for key in "12#":
            yield Dtmf(key, 100)


def test_keys_are_told_in_order_and_flushed_on_close() -> None:
    async def main() -> tuple[StagingLog, list[CallEvent]]:
        log = StagingLog()
        events = events_for(log)
        events.start()
        transport = EventedTransport(KeyPresser([]), events)
        seen = [event async for event in transport.events()]
        await events.close()
        return log, seen

    log, seen = asyncio.run(main())
    assert seen == [Dtmf("1", 100), Dtmf("2", 100), Dtmf("#", 100)]  # passed through
    assert [(t, d["key"], d["seq"]) for t, d in log.staged] == [
        ("dtmf.received", "1", 1),
        ("dtmf.received", "2", 2),
        ("dtmf.received", "#", 3),
    ]
    assert {d["call_id"] for _, d in log.staged} == {"cal_1"}


def test_a_failed_transfer_is_told_and_still_raised() -> None:
    class Refusing(SimulatedCaller):
        async def transfer(self, target: str) -> None:
            raise RuntimeError("REFER refused: 603")

    async def main() -> StagingLog:
        log = StagingLog()
        events = events_for(log)
        events.start()
        transport = EventedTransport(Refusing([]), events)
        with pytest.raises(RuntimeError, match="603"):
            await transport.transfer("+14155550100")
        ok = EventedTransport(SimulatedCaller([]), events)
        await ok.transfer("+14155550101")
        await events.close()
        return log

    staged = asyncio.run(main()).staged
    assert [t for t, _ in staged] == [
        "transfer.requested",
        "transfer.failed",
        "transfer.requested",
        "transfer.completed",
    ]
    assert staged[1][1]["error"] == "REFER refused: 603"


class SlowStaging(StagingLog):
    """Stages each batch after ``delay_s`` (a busy database)."""

    def __init__(self, delay_s: float) -> None:
        super().__init__()
        self.delay_s = delay_s

    async def stage_live(self, who: object, agent_id: str, batch: Any) -> None:
        await asyncio.sleep(self.delay_s)
        self.batches.append(list(batch))


def _three_keys(events: CallEvents) -> None:
    for key in "123":
        events.add("dtmf.received", key=key, duration_ms=100)


def test_a_control_plane_that_fails_hands_every_event_to_the_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(call_events, "FLUSH_TIMEOUT_S", 0.05)

    async def main(log: StagingLog) -> list[tuple[str, dict[str, Any]]]:
        events = events_for(log)
        events.start()
        _three_keys(events)
        await asyncio.sleep(0.01)  # the writer tried (and failed, or hangs) meanwhile
        events.add("transfer.requested", target="+1")
        left = await events.close()  # returns in bounded time either way
        assert events.dropped == 0
        return list(left)

    for log in (StagingLog(fail=True), StagingLog(stall=True)):
        left = asyncio.run(main(log))
        assert log.staged == []
        assert [(t, d["seq"]) for t, d in left] == [
            ("dtmf.received", 1),
            ("dtmf.received", 2),
            ("dtmf.received", 3),
            ("transfer.requested", 4),
        ]


def test_a_slow_control_plane_finishes_its_batch_and_the_rest_goes_with_the_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The batch in flight when the call ends is waited for (it may commit); what was
    queued behind it is returned, so every event is staged exactly once."""
    monkeypatch.setattr(call_events, "FLUSH_TIMEOUT_S", 0.1)

    async def main() -> tuple[SlowStaging, list[tuple[str, dict[str, Any]]]]:
        log = SlowStaging(delay_s=0.15)
        events = events_for(log)
        events.start()
        _three_keys(events)
        await asyncio.sleep(0.01)  # the first batch is in flight
        events.add("transfer.requested", target="+1")
        return log, list(await events.close())

    log, left = asyncio.run(main())
    assert [d["seq"] for _, d in log.staged] == [1, 2, 3]
    assert [d["seq"] for _, d in left] == [4]


def test_the_pending_list_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(call_events, "MAX_PENDING", 3)
    events = events_for(StagingLog())  # never started: nothing drains the list
    for _ in range(5):
        events.add("dtmf.received", key="1", duration_ms=100)
    assert events.dropped == 2


def test_redacted_live_events_mask_numbers_text_and_keys() -> None:
    data = {
        "from_number": "+14155550123",
        "text": "my card is 4111 1111 1111 1111",
        "key": "7",
        "turn": 2,
    }
    out = _redacted_live(data)
    assert out["from_number"] == mask_number(data["from_number"]) != data["from_number"]
    assert "4111" not in out["text"] and out["key"] is None and out["turn"] == 2


class AudioOnlyLine(SimulatedCaller):
    keys_in_band = True


def test_the_wrappers_keep_an_audio_only_line_audio_only() -> None:
    # The speaker plays keys as tones on a line that says it carries only audio; the
    # runtime's wrappers around the transport must not hide that.
    class Writer:
        async def write(self, pcm: bytes) -> None: ...
        async def commit(self) -> None: ...
        async def abort(self) -> None: ...

    async def wrapped(line: SimulatedCaller) -> tuple[bool, bool]:
        evented = EventedTransport(line, events_for(StagingLog()))
        recorded = RecordedTransport(evented, CallRecorder(Writer()))  # type: ignore[arg-type]
        return evented.keys_in_band, recorded.keys_in_band

    assert asyncio.run(wrapped(AudioOnlyLine([]))) == (True, True)
    assert asyncio.run(wrapped(SimulatedCaller([]))) == (False, False)
    assert MediaStreamTransport.keys_in_band
