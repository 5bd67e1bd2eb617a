"""Fallback STT / TTS and their circuit breakers, with scripted failing providers on a
virtual clock: timeouts, errors, breakers opening, probing and closing, and the metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from voxplane.errors import ProviderError
from voxplane.media.frame import AudioFrame, Pcm16
from voxplane.observability.metrics import REGISTRY
from voxplane.providers.base import STT, TTS, SttCapabilities, SttHint, Transcript
from voxplane.providers.breaker import Breaker, BreakerBoard, BreakerPolicy, BreakerState
from voxplane.providers.fallback import (
    FallbackRouter,
    FallbackSTT,
    FallbackTTS,
    Member,
    RoutingPolicy,
)
from voxplane.testing.clock import run_virtual
from voxplane.testing.fakes import ScriptedTTS, tone

SPEECH = tone(500)


class ScriptedCloudSTT(STT):
    """A scripted stand-in for a cloud STT: answers ``text`` after ``delay_s``, or fails
    with ``error``, or (``hang``) never answers. Counts its calls."""

    capabilities = SttCapabilities(streaming=False, hints=False)

    def __init__(
        self,
        text: str = "",
        delay_s: float = 0.1,
        error: Exception | None = None,
        hang: bool = False,
    ) -> None:
        self.text, self.delay_s, self.error, self.hang = text, delay_s, error, hang
        self.calls = 0

    async def recognize(self, samples: Pcm16, hint: SttHint | None = None) -> Transcript:
        self.calls += 1
        await asyncio.sleep(3600 if self.hang else self.delay_s)
        if self.error is not None:
            raise self.error
        return Transcript(self.text, 500.0)


class BreakingTTS(ScriptedTTS):
    """Fails before any audio, or (``after_first``) after its first chunk."""

    def __init__(self, after_first: bool = False) -> None:
        super().__init__()
        self.after_first = after_first

    async def synthesize(self, text: str) -> AsyncIterator[AudioFrame]:
        self.spoken.append(text)
        await asyncio.sleep(0.05)
        if self.after_first:
            yield AudioFrame(tone(100), 16_000)
        raise ProviderError("voice service returned HTTP 503", retryable=True)


def _stt(
    board: BreakerBoard, *stts: tuple[str, STT], policy: RoutingPolicy | None = None
) -> FallbackSTT:
    breaker_policy = BreakerPolicy(failures=2, cooldown_s=10.0)
    members = [Member(n, s, board.breaker("stt", n, "acct", breaker_policy)) for n, s in stts]
    return FallbackSTT(FallbackRouter("stt", members, policy or RoutingPolicy(1.0)))


def _tts(board: BreakerBoard, *ttss: tuple[str, TTS]) -> FallbackTTS:
    members = [Member(n, t, board.breaker("tts", n, "acct", BreakerPolicy())) for n, t in ttss]
    return FallbackTTS(FallbackRouter("tts", members, RoutingPolicy(1.0)))


def _state(provider: str, kind: str) -> float | None:
    return REGISTRY.get_sample_value(
        "voxplane_provider_breaker_state", {"provider": provider, "kind": kind}
    )


def _failures(provider: str, kind: str, retryable: bool) -> float:
    labels = {"provider": provider, "kind": kind, "retryable": str(retryable)}
    return REGISTRY.get_sample_value("voxplane_provider_failures_total", labels) or 0.0


# --- the breaker on its own -------------------------------------------------------------


def test_breaker_opens_probes_once_and_closes() -> None:
    changes: list[BreakerState] = []
    breaker = Breaker(BreakerPolicy(failures=3, cooldown_s=30.0), changes.append)
    for now in (0.0, 1.0):
        assert breaker.allow(now)
        breaker.failed(now)
    assert breaker.state is BreakerState.CLOSED  # two in a row: not yet
    breaker.failed(2.0)
    assert breaker.state is BreakerState.OPEN and not breaker.allow(31.9)
    assert breaker.allow(32.0)  # the cool-down is over: one probe
    assert breaker.state is BreakerState.HALF_OPEN and not breaker.allow(32.0)
    breaker.failed(33.0)  # the probe failed: open for another cool-down
    assert not breaker.allow(62.9) and breaker.allow(63.0)
    breaker.succeeded()
    assert breaker.state is BreakerState.CLOSED and breaker.allow(63.0)
    assert changes == [
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.CLOSED,
    ]


def test_a_success_resets_the_count_and_an_abandoned_probe_frees_the_slot() -> None:
    breaker = Breaker(BreakerPolicy(failures=2, cooldown_s=5.0))
    breaker.failed(0.0)
    breaker.succeeded()
    breaker.failed(1.0)
    assert breaker.state is BreakerState.CLOSED
    breaker.failed(2.0)
    assert breaker.allow(7.0) and not breaker.allow(7.0)
    breaker.abandoned()  # the probing call was cancelled: someone else may probe
    assert breaker.allow(7.0)


def test_the_board_shares_breakers_per_account_and_exports_the_worst_state() -> None:
    board = BreakerBoard()
    policy = BreakerPolicy(failures=1)
    one = board.breaker("stt", "board-test", "account-a", policy)
    assert board.breaker("stt", "board-test", "account-a", policy) is one
    other = board.breaker("stt", "board-test", "account-b", policy)
    assert _state("board-test", "stt") == 0
    one.failed(0.0)
    assert _state("board-test", "stt") == 2 and other.state is BreakerState.CLOSED
    one.succeeded()
    assert _state("board-test", "stt") == 0


# --- fallback STT -------------------------------------------------------------------------


def test_an_erroring_primary_falls_back_at_once() -> None:
    primary = ScriptedCloudSTT(error=ProviderError("deepgram refused the key (HTTP 401)"))
    backup = ScriptedCloudSTT("book a cleaning")
    stt = _stt(BreakerBoard(), ("fb-error-primary", primary), ("fb-error-backup", backup))
    before = _failures("fb-error-primary", "stt", retryable=False)

    async def main() -> tuple[str, float]:
        text = (await stt.recognize(SPEECH)).text
        return text, asyncio.get_running_loop().time()

    text, at = run_virtual(main())
    assert text == "book a cleaning" and at == pytest.approx(0.2)
    assert _failures("fb-error-primary", "stt", retryable=False) == before + 1


def test_a_primary_that_never_answers_times_out_and_opens_its_breaker() -> None:
    primary = ScriptedCloudSTT(hang=True)
    backup = ScriptedCloudSTT("yes")
    stt = _stt(BreakerBoard(), ("fb-hang-primary", primary), ("fb-hang-backup", backup))

    async def main() -> list[tuple[str, float]]:
        loop = asyncio.get_running_loop()
        answers = []
        for _ in range(4):
            started = loop.time()
            answers.append(((await stt.recognize(SPEECH)).text, loop.time() - started))
        return answers

    answers = run_virtual(main())
    assert [text for text, _ in answers] == ["yes"] * 4
    # two timeouts of 1 s open the breaker; then the backup answers without the wait
    assert [round(took, 3) for _, took in answers] == [1.1, 1.1, 0.1, 0.1]
    assert primary.calls == 2 and _state("fb-hang-primary", "stt") == 2


def test_the_breaker_probes_after_the_cooldown_and_closes_on_success() -> None:
    primary = ScriptedCloudSTT("from primary", error=ProviderError("HTTP 500", retryable=True))
    backup = ScriptedCloudSTT("from backup")
    stt = _stt(BreakerBoard(), ("fb-probe-primary", primary), ("fb-probe-backup", backup))

    async def main() -> list[str]:
        texts = [(await stt.recognize(SPEECH)).text for _ in range(3)]  # opens after 2
        assert primary.calls == 2 and _state("fb-probe-primary", "stt") == 2
        await asyncio.sleep(10.0)  # the cool-down
        primary.error = None  # the provider is back
        texts += [(await stt.recognize(SPEECH)).text for _ in range(2)]
        return texts

    texts = run_virtual(main())
    assert texts == ["from backup"] * 3 + ["from primary"] * 2
    assert primary.calls == 4 and _state("fb-probe-primary", "stt") == 0


def test_when_every_provider_fails_the_error_names_them_all() -> None:
    stt = _stt(
        BreakerBoard(),
        ("fb-all-a", ScriptedCloudSTT(error=ProviderError("a refused the key"))),
        ("fb-all-b", ScriptedCloudSTT(error=ProviderError("b is down", retryable=True))),
    )
    with pytest.raises(ProviderError) as caught:
        run_virtual(stt.recognize(SPEECH))
    assert str(caught.value) == "every stt provider failed: a refused the key; b is down"
    assert caught.value.retryable


def test_every_breaker_open_still_tries_them_in_order() -> None:
    primary = ScriptedCloudSTT(error=ProviderError("down"))
    backup = ScriptedCloudSTT(error=ProviderError("down too"))
    stt = _stt(BreakerBoard(), ("fb-open-a", primary), ("fb-open-b", backup))

    async def main() -> str:
        for _ in range(2):
            with pytest.raises(ProviderError):
                await stt.recognize(SPEECH)
        backup.error = None
        return (await stt.recognize(SPEECH)).text  # both open: tried anyway

    assert run_virtual(main()) == ""
    assert (primary.calls, backup.calls) == (3, 3)


def test_an_adapter_bug_is_one_more_failed_provider() -> None:
    stt = _stt(
        BreakerBoard(),
        ("fb-bug-a", ScriptedCloudSTT(error=KeyError("channel"))),
        ("fb-bug-b", ScriptedCloudSTT("still here")),
    )
    assert run_virtual(stt.recognize(SPEECH)).text == "still here"


def test_prefer_fastest_moves_to_the_quicker_provider() -> None:
    slow, fast = ScriptedCloudSTT("slow", delay_s=0.5), ScriptedCloudSTT("fast", delay_s=0.1)
    policy = RoutingPolicy(attempt_timeout_s=2.0, prefer_fastest=True)
    stt = _stt(BreakerBoard(), ("fb-slow", slow), ("fb-fast", fast), policy=policy)

    async def main() -> list[str]:
        return [(await stt.recognize(SPEECH)).text for _ in range(4)]

    # unmeasured providers go first (each gets measured), then the fastest one wins
    assert run_virtual(main()) == ["slow", "fast", "fast", "fast"]


# --- fallback TTS -------------------------------------------------------------------------


def test_tts_falls_back_when_the_primary_fails_before_any_audio() -> None:
    backup = ScriptedTTS(ms_per_word=100)
    tts = _tts(BreakerBoard(), ("fb-tts-primary", BreakingTTS()), ("fb-tts-backup", backup))

    async def main() -> list[AudioFrame]:
        return [frame async for frame in tts.synthesize("Hello there.")]

    frames = run_virtual(main())
    assert backup.spoken == ["Hello there."] and sum(len(f.samples) for f in frames) == 3200


def test_tts_failing_mid_sentence_is_not_restarted_elsewhere() -> None:
    primary, backup = BreakingTTS(after_first=True), ScriptedTTS()
    tts = _tts(BreakerBoard(), ("fb-mid-primary", primary), ("fb-mid-backup", backup))
    frames: list[AudioFrame] = []

    async def main() -> None:
        async for frame in tts.synthesize("Hello there."):
            frames.append(frame)

    with pytest.raises(ProviderError, match="HTTP 503"):
        run_virtual(main())
    assert len(frames) == 1 and backup.spoken == []  # the words are never said twice


def test_a_stream_the_caller_stops_leaves_no_verdict() -> None:
    board = BreakerBoard()
    slow = ScriptedTTS(ms_per_word=100)
    tts = _tts(board, ("fb-stop-primary", slow), ("fb-stop-backup", ScriptedTTS()))
    breaker = board.breaker("tts", "fb-stop-primary", "acct", BreakerPolicy())

    async def main() -> None:
        stream = tts.synthesize("One two three.")
        await anext(stream)
        await stream.aclose()  # barge-in: the caller interrupted

    run_virtual(main())
    assert breaker.state is BreakerState.CLOSED and breaker.failures == 0


class HangingTTS(ScriptedTTS):
    """Accepts the text and never sends audio."""

    async def synthesize(self, text: str) -> AsyncIterator[AudioFrame]:
        self.spoken.append(text)
        await asyncio.sleep(3600)
        yield AudioFrame(tone(20), 16_000)


def test_tts_whose_first_audio_never_comes_times_out_to_the_next() -> None:
    backup = ScriptedTTS(first_audio_s=0.05)
    tts = _tts(BreakerBoard(), ("fb-tts-hang", HangingTTS()), ("fb-tts-hang-backup", backup))

    async def main() -> float:
        async for _frame in tts.synthesize("Hello."):
            return asyncio.get_running_loop().time()
        raise AssertionError("no audio")

    assert run_virtual(main()) == pytest.approx(1.05)  # the attempt timeout, then the backup
    assert backup.spoken == ["Hello."]
