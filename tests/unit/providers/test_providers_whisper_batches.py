"""WhisperEngine's batching, on a scripted decoder (no model): who waits for whom."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import numpy as np
import pytest

from voxplane.errors import ProviderError
from voxplane.media.frame import Pcm16
from voxplane.providers.whisper import WhisperEngine, WhisperOptions, WhisperSTT


class ScriptedEngine(WhisperEngine):
    """The engine's queue and batches around a decoder that echoes each utterance's length,
    and holds each batch until the test releases it."""

    def __init__(self, options: WhisperOptions, fail: bool = False) -> None:  # no model
        self._start_queue(options, "whisper-test")
        self.seen: list[list[int]] = []
        self.release = threading.Semaphore(0)
        self.started = threading.Event()
        self.fail = fail

    def _decode(self, items: Sequence[tuple[Pcm16, str, str | None]]) -> list[str]:
        with self._lock:
            self.batches += 1
            self.decoded += len(items)
            self.seen.append([len(samples) for samples, _, _ in items])
        self.started.set()
        self.release.acquire()
        if self.fail:
            raise ProviderError("whisper failed: scripted", retryable=True)
        return [f"{len(samples)} {prompt}" for samples, _, prompt in items]


def _audio(n: int) -> Pcm16:
    return np.zeros(n, np.int16)


async def _started(engine: ScriptedEngine) -> None:
    await asyncio.to_thread(engine.started.wait, 5)
    engine.started.clear()


def test_requests_that_arrive_during_a_batch_share_the_next_one() -> None:
    engine = ScriptedEngine(WhisperOptions(max_batch=3, workers=1))

    async def scenario() -> list[str]:
        first = asyncio.ensure_future(engine.transcribe(_audio(1), "en", None))
        await _started(engine)
        rest = [
            asyncio.ensure_future(engine.transcribe(_audio(n), "en", "p")) for n in (2, 3, 4, 5)
        ]
        await asyncio.sleep(0)
        for _ in range(3):
            engine.release.release()
        return await asyncio.gather(first, *rest)

    texts = asyncio.run(scenario())
    assert texts == ["1 None", "2 p", "3 p", "4 p", "5 p"]
    assert engine.seen == [[1], [2, 3, 4], [5]]


def test_a_request_cancelled_before_its_batch_is_never_decoded() -> None:
    engine = ScriptedEngine(WhisperOptions(workers=1))

    async def scenario() -> str:
        first = asyncio.ensure_future(engine.transcribe(_audio(1), "en", None))
        await _started(engine)
        dropped = asyncio.ensure_future(engine.transcribe(_audio(2), "en", None))
        kept = asyncio.ensure_future(engine.transcribe(_audio(3), "en", None))
        await asyncio.sleep(0)
        dropped.cancel()
        engine.release.release()
        engine.release.release()
        await first
        return await kept

    assert asyncio.run(scenario()) == "3 None"
    assert engine.seen == [[1], [3]]


def test_a_failed_batch_fails_every_request_in_it() -> None:
    engine = ScriptedEngine(WhisperOptions(workers=1), fail=True)

    async def scenario() -> list[BaseException | str]:
        first = asyncio.ensure_future(engine.transcribe(_audio(1), "en", None))
        await _started(engine)
        second = asyncio.ensure_future(engine.transcribe(_audio(2), "en", None))
        await asyncio.sleep(0)
        engine.release.release()
        engine.release.release()
        return await asyncio.gather(first, second, return_exceptions=True)

    outcomes = asyncio.run(scenario())
    assert all(isinstance(o, ProviderError) for o in outcomes)
    assert engine.busy == 0


def test_requests_never_wait_for_a_batch_while_a_worker_is_idle() -> None:
    engine = ScriptedEngine(WhisperOptions(workers=2, max_batch=8))

    async def scenario() -> list[str]:
        first = asyncio.ensure_future(engine.transcribe(_audio(1), "en", None))
        await _started(engine)
        second = asyncio.ensure_future(engine.transcribe(_audio(2), "en", None))
        await _started(engine)  # decoded beside the first, not after it
        assert engine.seen == [[1], [2]]
        assert engine.decoding == 2
        rest = [
            asyncio.ensure_future(engine.transcribe(_audio(n), "en", None)) for n in (3, 4, 5, 6)
        ]
        await asyncio.sleep(0)
        assert engine.busy == 6
        for _ in range(5):
            engine.release.release()
        return await asyncio.gather(first, second, *rest)

    texts = asyncio.run(scenario())
    assert texts == [f"{n} None" for n in range(1, 7)]
    # the four queued behind both workers are shared between them: the first to free up
    # takes half, not all four (max_batch allows it) while the other would sit idle
    assert engine.seen[2] == [3, 4]
    assert sorted(n for batch in engine.seen[3:] for n in batch) == [5, 6]
    assert engine.busy == 0


def test_guesses_start_only_within_the_speculation_budget() -> None:
    engine = ScriptedEngine(WhisperOptions(speculation_budget=2, workers=1))
    stt = WhisperSTT(engine)

    async def scenario() -> list[bool]:
        seen = [stt.can_start_now()]
        first = asyncio.ensure_future(stt.recognize(_audio(1)))
        await _started(engine)
        seen.append(stt.can_start_now())  # one running: a guess may join the next batch
        second = asyncio.ensure_future(stt.recognize(_audio(2)))
        await asyncio.sleep(0)
        seen.append(stt.can_start_now())  # one running, one queued: guesses wait
        engine.release.release()
        engine.release.release()
        await asyncio.gather(first, second)
        await asyncio.to_thread(lambda: None)
        return seen

    assert asyncio.run(scenario()) == [True, True, False]


@pytest.mark.parametrize(
    "options", [{"window_s": 0.5}, {"window_s": 31}, {"max_batch": 0}, {"workers": 0}]
)
def test_bad_options_are_refused(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        WhisperEngine(WhisperOptions(**options))  # type: ignore[arg-type]
