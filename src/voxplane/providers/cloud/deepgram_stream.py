"""Deepgram's live websocket as a call's streaming speech to text (:class:`SttStream`).

One socket for the whole call, opened at its first audio. :meth:`~DeepgramSttStream.push`
only queues the audio (it never waits on the network); a sender task per socket sends it,
100 ms a message, and a receiver task reads the results.

Clock. Deepgram times results in seconds of audio received on the socket; a socket opened
when the call had pushed ``base_ms`` of audio adds ``base_ms`` to them, so positions are on
the session's clock whatever socket heard them.

Flush. ``flush(start_ms, end_ms)`` sends ``Finalize`` (after the audio queued before it),
unless the final results already reach :data:`SPAN_SLACK_MS` past ``end_ms``, and waits,
at most the endpoint's timeout, until they do, or until Deepgram answers a Finalize (a
result with ``from_finalize``) with final results reaching ``end_ms``. Deepgram may leave
the answer out when little audio was waiting: hence the first condition. The turn's words
are the final words whose middle lies within the span, give or take
:data:`SPAN_SLACK_MS`: by position, so a previous turn's words are never repeated, and a
held turn flushed again over two turns gets the words of both.

Failures. A socket that closes, sends what is not Deepgram's protocol, falls
:data:`QUEUE_MS` of audio behind (its queued audio is dropped and counted in
:attr:`~DeepgramSttStream.dropped_ms`) or does not finalize within the endpoint's timeout is
given up. The audio from where its final results stopped to where a new socket starts is a
gap: each flush whose span touches a gap raises that failure (a ProviderError, retryable
unless the provider refused the request), which the session counts while the call goes on.
A new socket opens with the first audio :data:`RECONNECT_MS` after the failure (doubling,
up to :data:`MAX_RECONNECT_MS`, while sockets keep failing before they connect); after a
failure that is not retryable (a refused key, a message outside the protocol) none does:
every later flush raises that error, so a fallback recognizer takes the call's turns.

Hints. Deepgram takes key terms only when a socket opens (it cannot change them
mid-stream): the brain's hint at that moment boosts its phrases for the socket's life,
usually the whole call. Pauses are not used for guesses: a ``Finalize`` at every pause
would cut Deepgram's context mid-sentence, and its own endpointing already settles words
as soon as the caller stops.

Results. Interim results and Deepgram's final ones are published on
:meth:`~DeepgramSttStream.results` as they arrive, on the session's clock.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import numpy as np

from voxplane.errors import ProviderError
from voxplane.media.frame import Pcm16
from voxplane.providers.base import StreamingSTT, SttCapabilities, SttHint, SttResult, SttStream
from voxplane.providers.cloud.common import Endpoint, timeout_error
from voxplane.providers.cloud.deepgram import (
    NAME,
    DeepgramLive,
    DeepgramOptions,
    LiveEvent,
    LiveResult,
    Word,
)
from voxplane.providers.streams import end_results

log = logging.getLogger(__name__)

QUEUE_MS = 10_000
"""Audio waiting for a socket; beyond it the socket counts as stuck. Raised to a second
more than the endpoint's timeout when that is longer: audio pushed while a socket opens
is never lost."""
SPAN_SLACK_MS = 150.0
"""How far a word's middle may lie outside a turn's span and still be the turn's (the VAD
confirms speech late and releases it early); before the span, never past halfway back to
the end of a turn flushed earlier, so that a word belongs to one turn only."""
RECONNECT_MS = 1_000.0
"""Audio to let pass after a failed socket before opening a new one."""
MAX_RECONNECT_MS = 16_000.0
END_WAIT_S = 1.0
"""At the end of the call, how long Deepgram may take to answer ``CloseStream``."""
KEEP_MS = 120_000.0
"""Final words kept behind the newest audio, for flushes over held turns."""
FLUSHED = 16
"""Ends of the latest flushed turns remembered (for :data:`SPAN_SLACK_MS`)."""
RESULTS_QUEUE = 64
"""Results not yet read from :meth:`DeepgramSttStream.results`; beyond it the oldest go."""
_MS = 16  # samples per millisecond at 16 kHz
_FINALIZE, _CLOSE = "Finalize", "CloseStream"

Hint = Callable[[], SttHint | None]


class DeepgramStreamingSTT(StreamingSTT):
    """Deepgram's live streaming as one socket per call (see the module's description)."""

    capabilities = SttCapabilities(streaming=True, hints=True)

    def __init__(self, endpoint: Endpoint, options: DeepgramOptions | None = None) -> None:
        self._endpoint = endpoint
        self._options = options or DeepgramOptions()
        if self._options.sample_rate != 16_000:
            raise ValueError("a call's stream carries 16 kHz audio")

    def open(self, hint: Hint) -> DeepgramSttStream:
        return DeepgramSttStream(self._endpoint, self._options, hint)


@dataclass(frozen=True, slots=True)
class _FinalWord:
    start_ms: float
    end_ms: float
    text: str
    ready_at: float


@dataclass(slots=True)
class _Gap:
    """Call audio no socket finalized, and why."""

    from_ms: float
    to_ms: float
    error: ProviderError


@dataclass(slots=True, eq=False)
class _Socket:
    """One socket's share of the call: its audio queue and how far it has finalized."""

    base_ms: float
    outbox: deque[Pcm16 | str] = field(default_factory=deque)
    outbox_ms: float = 0.0
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    final_to_ms: float = 0.0
    answered: int = 0
    """Answers to ``Finalize`` received (results ``from_finalize``)."""
    connected: bool = False
    error: ProviderError | None = None
    task: asyncio.Task[None] | None = None

    def queue(self, item: Pcm16 | str) -> None:
        self.outbox.append(item)
        self.wake.set()


class DeepgramSttStream(SttStream):
    """One call's recognition on Deepgram's live websocket."""

    def __init__(self, endpoint: Endpoint, options: DeepgramOptions, hint: Hint) -> None:
        self._endpoint = endpoint
        self._options = options
        self._hint = hint
        self._queue_ms = max(QUEUE_MS, 1000 * endpoint.timeout_s + 1000)
        self._socket: _Socket | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._words: deque[_FinalWord] = deque()
        self._gaps: deque[_Gap] = deque()
        self._flushed: deque[float] = deque(maxlen=FLUSHED)  # where flushed turns ended
        self._changed = asyncio.Event()  # replaced each time it is set
        self._results: asyncio.Queue[SttResult | None] = asyncio.Queue(RESULTS_QUEUE)
        self._pushed_ms = 0.0
        self._sent_ms = 0.0
        self.dropped_ms = 0.0
        """Call audio that never reached Deepgram (a stuck or failed socket)."""
        self._retry_at_ms = 0.0
        self._backoff_ms = RECONNECT_MS
        self._ended = False

    @property
    def audio_ms(self) -> float:
        return self._sent_ms

    def push(self, samples: Pcm16) -> None:
        if self._ended:
            return
        ms = len(samples) / _MS
        socket = self._current()
        if socket is None:
            self.dropped_ms += ms
        else:
            socket.queue(samples)
            socket.outbox_ms += ms
            if socket.outbox_ms > self._queue_ms:
                self._fail(socket, ProviderError(f"{NAME} fell behind the call", retryable=True))
        self._pushed_ms += ms

    async def flush(self, start_ms: float, end_ms: float) -> SttResult:
        self._raise_for_gap(start_ms, end_ms)
        socket = self._socket
        if socket is not None and socket.error is None and not _final_to(socket, end_ms):
            answered = socket.answered
            socket.queue(_FINALIZE)
            try:
                async with asyncio.timeout(self._endpoint.timeout_s):
                    while not (
                        socket.error is not None
                        or _final_to(socket, end_ms)
                        or (socket.answered > answered and socket.final_to_ms >= end_ms)
                    ):
                        await self._changed.wait()
            except TimeoutError:
                self._fail(socket, timeout_error(NAME, "the final transcript"))
            self._raise_for_gap(start_ms, end_ms)
        low, high = self._low(start_ms), end_ms + SPAN_SLACK_MS
        self._flushed.append(end_ms)
        words = [w for w in self._words if low <= (w.start_ms + w.end_ms) / 2 <= high]
        ready_at = max((w.ready_at for w in words), default=None)
        text = " ".join(w.text for w in words)
        return SttResult(text, True, start_ms, end_ms, end_ms - start_ms, ready_at=ready_at)

    async def results(self) -> AsyncIterator[SttResult]:
        while (result := await self._results.get()) is not None:
            yield result

    async def end(self) -> None:
        if self._ended:
            return
        self._ended = True
        socket = self._socket
        if socket is not None and socket.error is None and socket.task is not None:
            socket.queue(_CLOSE)  # Deepgram answers what it still has, then closes
            await asyncio.wait([socket.task], timeout=END_WAIT_S)
        await end_results(self._tasks, self._results)

    # --- sockets ---------------------------------------------------------------------------

    def _current(self) -> _Socket | None:
        """The socket audio goes to now: a new one once a failed one's wait is over."""
        socket = self._socket
        if socket is not None and socket.error is None:
            return socket
        if socket is not None and self._pushed_ms < self._retry_at_ms:
            return None
        socket = _Socket(self._pushed_ms, final_to_ms=self._pushed_ms)
        if self._gaps and self._gaps[-1].to_ms == float("inf"):
            self._gaps[-1].to_ms = self._pushed_ms
        task = asyncio.get_running_loop().create_task(self._run(socket, self._hint()))
        socket.task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._socket = socket
        return socket

    async def _run(self, socket: _Socket, hint: SttHint | None) -> None:
        try:
            async with DeepgramLive.open(self._endpoint, self._options, hint) as live:
                socket.connected = True
                self._backoff_ms = RECONNECT_MS
                sender = asyncio.get_running_loop().create_task(self._send(socket, live))
                try:
                    async for event in live.events(patient=True):
                        self._heard(socket, event)
                finally:
                    sender.cancel()
                    await asyncio.wait([sender])
        except ProviderError as error:
            self._fail(socket, error)

    async def _send(self, socket: _Socket, live: DeepgramLive) -> None:
        try:
            while True:
                await socket.wake.wait()
                socket.wake.clear()
                while socket.outbox:
                    item = socket.outbox.popleft()
                    if isinstance(item, str):
                        await (live.finalize() if item == _FINALIZE else live.end())
                        continue
                    batch = [item]  # all the audio waiting, sent 100 ms a message
                    while socket.outbox and not isinstance(more := socket.outbox[0], str):
                        batch.append(more)
                        socket.outbox.popleft()
                    samples = np.concatenate(batch)
                    socket.outbox_ms -= len(samples) / _MS
                    await live.push(samples)
                    self._sent_ms += len(samples) / _MS
        except ProviderError as error:
            self._fail(socket, error)

    def _fail(self, socket: _Socket, error: ProviderError) -> None:
        """Give ``socket`` up: what it did not finalize is a gap until the next socket."""
        if socket.error is not None:
            return
        socket.error = error
        self.dropped_ms += socket.outbox_ms
        socket.outbox.clear()
        socket.outbox_ms = 0.0
        self._gaps.append(_Gap(socket.final_to_ms, float("inf"), error))
        if error.retryable:
            self._retry_at_ms = self._pushed_ms + self._backoff_ms
        else:  # refused (a wrong key, a plan without streaming): asking again cannot help
            self._retry_at_ms = float("inf")
        if not socket.connected:
            self._backoff_ms = min(2 * self._backoff_ms, MAX_RECONNECT_MS)
        if socket.task is not None and socket.task is not asyncio.current_task():
            socket.task.cancel()
        if not self._ended:
            log.warning(
                "deepgram stream failed; a new socket opens with the coming audio"
                if error.retryable
                else "deepgram refused the stream; no new socket for this call",
                extra={"error": str(error), "retryable": error.retryable},
            )
        self._notify()

    def _heard(self, socket: _Socket, event: LiveEvent) -> None:
        if not isinstance(event, LiveResult):
            return
        now = asyncio.get_running_loop().time()
        start_ms = socket.base_ms + 1000 * event.start_s
        end_ms = start_ms + 1000 * event.duration_s
        if event.is_final:
            for word in _words(event):
                word_start = socket.base_ms + 1000 * word.start_s
                word_end = socket.base_ms + 1000 * word.end_s
                self._words.append(_FinalWord(word_start, word_end, word.text, now))
            socket.final_to_ms = max(socket.final_to_ms, end_ms)
        if event.from_finalize:
            socket.answered += 1
        if event.text:
            self._publish(SttResult(event.text, event.is_final, start_ms, end_ms, ready_at=now))
        self._forget(self._pushed_ms - KEEP_MS)
        self._notify()

    # --- bookkeeping -----------------------------------------------------------------------

    def _raise_for_gap(self, start_ms: float, end_ms: float) -> None:
        for gap in self._gaps:
            if gap.from_ms < end_ms and gap.to_ms > start_ms:
                raise gap.error

    def _low(self, start_ms: float) -> float:
        """Where a span starting at ``start_ms`` takes words from (see SPAN_SLACK_MS)."""
        low = start_ms - SPAN_SLACK_MS
        before = [end for end in self._flushed if end <= start_ms]
        return max(low, (max(before) + start_ms) / 2) if before else low

    def _forget(self, before_ms: float) -> None:
        while self._words and self._words[0].end_ms < before_ms:
            self._words.popleft()
        while self._gaps and self._gaps[0].to_ms < before_ms:
            self._gaps.popleft()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _publish(self, result: SttResult) -> None:
        if self._results.full():
            self._results.get_nowait()  # nobody is reading: keep the newest
        self._results.put_nowait(result)


def _final_to(socket: _Socket, end_ms: float) -> bool:
    """Whether the socket's final results reach past the span ending at ``end_ms``."""
    return socket.final_to_ms >= end_ms + SPAN_SLACK_MS


def _words(result: LiveResult) -> tuple[Word, ...]:
    """The result's words; the whole transcript as one when Deepgram sent no word times."""
    if result.words or not result.text:
        return result.words
    return (Word(result.text, result.start_s, result.start_s + result.duration_s),)
