"""The batch-to-stream adapter: history slicing, speculation, interim results, retries."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from voxplane.errors import ProviderError
from voxplane.media.frame import Pcm16
from voxplane.providers.base import SttHint, SttResult, Transcript
from voxplane.providers.batch_stream import PREROLL_MS, TAIL_MS, BatchStreamingSTT
from voxplane.providers.retry import RetryPolicy
from voxplane.testing.clock import run_virtual
from voxplane.testing.fakes import ScriptedSTT, caller_speech, silence

HINT = SttHint("digits", prompt="1 2 3")


def _stream(stt: ScriptedSTT, *, speculative: bool = True) -> BatchStreamingSTT:
    return BatchStreamingSTT(stt, history_ms=10_000, speculative=speculative)


def test_flush_transcribes_the_turn_with_preroll_and_tail() -> None:
    stt = ScriptedSTT(["Hi."])

    async def main() -> SttResult:
        stream = _stream(stt).open(lambda: HINT)
        stream.push(np.concatenate([silence(1000), caller_speech(0, 500), silence(500)]))
        result = await stream.flush(1000, 1500)
        await stream.end()
        return result

    result = run_virtual(main())
    assert (result.text, result.final, result.speculative) == ("Hi.", True, False)
    assert stt.calls == [(PREROLL_MS + 500 + TAIL_MS, HINT)]


def test_a_guess_at_a_pause_is_published_as_interim_and_reused_by_flush() -> None:
    stt = ScriptedSTT(["Hi."])

    async def main() -> tuple[list[SttResult], SttResult, float]:
        stream = _stream(stt).open(lambda: None)
        seen: list[SttResult] = []

        async def read() -> None:
            async for result in stream.results():
                seen.append(result)

        reader = asyncio.create_task(read())
        stream.push(np.concatenate([caller_speech(0, 500), silence(300)]))
        stream.speech_paused(0, 500)
        await asyncio.sleep(0.2)
        final = await stream.flush(0, 500)
        await stream.end()
        await reader
        return seen, final, stream.audio_ms

    seen, final, audio_ms = run_virtual(main())
    assert [(r.text, r.final) for r in seen] == [("Hi.", False), ("Hi.", True)]
    assert final.speculative and len(stt.calls) == 1
    assert audio_ms == stt.calls[0][0]


def test_resumed_speech_cancels_the_guess_and_flush_hears_the_whole_turn() -> None:
    stt = ScriptedSTT(["Book a cleaning."], delay_s=0.5)

    async def main() -> SttResult:
        stream = _stream(stt).open(lambda: None)
        lead = silence(1000)
        stream.push(np.concatenate([lead, caller_speech(0, 600), silence(200)]))
        stream.speech_paused(1000, 1600)
        await asyncio.sleep(0.1)
        stream.speech_resumed()
        stream.push(np.concatenate([caller_speech(0, 600), silence(300)]))
        result = await stream.flush(1000, 2400)
        await stream.end()
        return result

    result = run_virtual(main())
    assert not result.speculative
    assert [ms for ms, _ in stt.calls] == [PREROLL_MS + 600 + TAIL_MS, PREROLL_MS + 1400 + TAIL_MS]
    assert result.text == "Book a cleaning."


def test_no_guess_while_the_recognizer_is_busy_until_it_frees_up() -> None:
    stt = ScriptedSTT(["Hi."], delay_s=0.3, workers=1)

    async def main() -> tuple[int, int, bool]:
        stream = _stream(stt).open(lambda: None)
        stream.push(caller_speech(0, 500))
        busy = asyncio.create_task(stt.recognize(silence(100)))  # someone else's request
        await asyncio.sleep(0)
        stream.speech_paused(0, 500)
        held_back = len(stt.calls)
        await busy
        stream.push(silence(20))  # the next frame: the worker is free, the guess starts
        await asyncio.sleep(0)
        started = len(stt.calls)
        result = await stream.flush(0, 500)
        await stream.end()
        return held_back, started, result.speculative

    assert run_virtual(main()) == (1, 2, True)


def test_speculation_can_be_switched_off() -> None:
    stt = ScriptedSTT(["Hi."])

    async def main() -> int:
        stream = _stream(stt, speculative=False).open(lambda: None)
        stream.push(caller_speech(0, 500))
        stream.speech_paused(0, 500)
        await asyncio.sleep(0.5)
        calls = len(stt.calls)
        await stream.end()
        return calls

    assert run_virtual(main()) == 0


class FlakySTT(ScriptedSTT):
    def __init__(self, errors: list[ProviderError]) -> None:
        super().__init__(["Hi."])
        self._errors = errors

    async def recognize(self, samples: Pcm16, hint: SttHint | None = None) -> Transcript:
        if self._errors:
            self.calls.append((0.0, hint))
            raise self._errors.pop(0)
        return await super().recognize(samples, hint)


def test_a_retryable_failure_is_retried_and_others_are_raised() -> None:
    async def flush(stt: ScriptedSTT) -> str:
        stream = BatchStreamingSTT(stt, history_ms=5000, retry=RetryPolicy(attempts=2)).open(
            lambda: None
        )
        stream.push(caller_speech(0, 500))
        try:
            return (await stream.flush(0, 500)).text
        finally:
            await stream.end()

    flaky = FlakySTT([ProviderError("timeout", retryable=True)])
    assert run_virtual(flush(flaky)) == "Hi." and len(flaky.calls) == 2
    broken = FlakySTT([ProviderError("401", retryable=False)])
    with pytest.raises(ProviderError, match="401"):
        run_virtual(flush(broken))
    assert len(broken.calls) == 1
    twice = FlakySTT([ProviderError("timeout", retryable=True)] * 2)
    with pytest.raises(ProviderError, match="timeout"):
        run_virtual(flush(twice))
    assert len(twice.calls) == 2


def test_end_stops_running_requests_and_ends_results() -> None:
    stt = ScriptedSTT(["Hi."], delay_s=5.0)

    async def main() -> tuple[bool, list[SttResult]]:
        stream = _stream(stt).open(lambda: None)
        stream.push(caller_speech(0, 500))
        stream.speech_paused(0, 500)
        await asyncio.sleep(0.1)
        before = set(asyncio.all_tasks())
        await stream.end()
        pending = any(not t.done() for t in before - {asyncio.current_task()})
        return pending, [r async for r in stream.results()]

    assert run_virtual(main()) == (False, [])
