"""A simulated caller: plays recorded turns into a call and records both sides.

Used by ``voxplane talk``, by the benchmarks and by pipeline tests. Each caller turn starts
once the agent has finished speaking (or, with ``barge_in_at_ms``, that long after the
agent starts answering); a turn may also press keypad keys. With ``phone=True`` both
directions go through 8 kHz G.711 μ-law, as on a telephone line.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import numpy as np

from voxplane.media.frame import AudioFrame, Pcm16, samples_per_frame
from voxplane.media.g711 import ulaw_decode, ulaw_encode
from voxplane.media.resample import resample
from voxplane.transports.base import (
    DTMF_KEYS,
    AudioSink,
    AudioSource,
    CallEvent,
    CallInfo,
    Dtmf,
    RemoteHangup,
    Transport,
)

KEY_MS = 100
"""How long each scripted key press lasts (the caller is silent meanwhile)."""
_call_ids = itertools.count(1)


@dataclass(frozen=True, slots=True)
class CallerTurn:
    """One thing the caller says: audio at any rate, and when to start saying it."""

    samples: Pcm16
    sample_rate: int
    barge_in_at_ms: int | None = None
    """Start this long after the agent starts answering, talking over it."""
    dtmf: str = ""
    """Keypad keys pressed after the audio (``samples`` may be empty), one per 100 ms."""


@dataclass(frozen=True, slots=True)
class CallerPolicy:
    agent_idle_ms: int = 700
    """The agent counts as finished after this much silence from it."""
    answer_timeout_s: float = 20.0
    """Give up waiting for the agent's answer after this long and go on."""


class _Line:
    """Both directions' shared state, and the stereo recording (caller left, agent right)."""

    def __init__(self, rate: int, phone: bool) -> None:
        self.rate = rate
        self.phone = phone
        self.frame_len = samples_per_frame(rate)
        self.t0: float | None = None
        self.closed = asyncio.Event()
        # The script's key presses and the final hang-up: a handful, so unbounded is safe.
        self.events: asyncio.Queue[CallEvent | None] = asyncio.Queue()
        self.agent_frames = 0
        self.last_agent_frame = -1e9
        self.caller: list[tuple[int, Pcm16]] = []
        self.agent: list[tuple[int, Pcm16]] = []
        self._agent_end = 0

    def codec(self, samples: Pcm16) -> Pcm16:
        return ulaw_decode(ulaw_encode(samples)) if self.phone else samples

    def position(self, now: float) -> int:
        assert self.t0 is not None
        return round((now - self.t0) * self.rate)

    def record_agent(self, samples: Pcm16, now: float) -> None:
        pos = self.position(now)
        if abs(pos - self._agent_end) < self.frame_len // 2:
            pos = self._agent_end  # keep paced frames contiguous despite timer jitter
        self.agent.append((pos, samples))
        self._agent_end = pos + len(samples)

    def stereo(self) -> tuple[Pcm16, Pcm16]:
        length = max((p + len(s) for p, s in self.caller + self.agent), default=0)
        left, right = np.zeros(length, np.int16), np.zeros(length, np.int16)
        for track, parts in ((left, self.caller), (right, self.agent)):
            for pos, samples in parts:
                track[pos : pos + len(samples)] = samples
        return left, right


class _CallerSource(AudioSource):
    def __init__(self, line: _Line, turns: Sequence[CallerTurn], policy: CallerPolicy) -> None:
        self.sample_rate = line.rate
        self._line = line
        self._turns = [resample(t.samples, t.sample_rate, line.rate) for t in turns]
        self._barge = [t.barge_in_at_ms for t in turns]
        self._keys = [t.dtmf for t in turns]
        self._policy = policy

    async def frames(self) -> AsyncIterator[AudioFrame]:
        async for frame in self._script():
            yield frame
        self._line.events.put_nowait(RemoteHangup())
        self._line.events.put_nowait(None)

    async def _script(self) -> AsyncIterator[AudioFrame]:
        loop = asyncio.get_running_loop()
        line = self._line
        line.t0 = loop.time()
        sent = 0
        mark_frames, mark_time = 0, line.t0
        silence = np.zeros(line.frame_len, np.int16)
        for index in range(len(self._turns) + 1):
            while not self._ready(index, mark_frames, mark_time, loop.time()):
                if line.closed.is_set():
                    return
                sent = await self._pace(sent)
                yield self._emit(silence, sent)
            if index == len(self._turns):
                return
            audio = self._turns[index]
            for start in range(0, len(audio), line.frame_len):
                frame = np.zeros(line.frame_len, np.int16)
                chunk = audio[start : start + line.frame_len]
                frame[: len(chunk)] = chunk
                if line.closed.is_set():
                    return
                sent = await self._pace(sent)
                yield self._emit(frame, sent)
            for key in self._keys[index]:
                line.events.put_nowait(Dtmf(key, KEY_MS))
                for _ in range(KEY_MS // 20):
                    sent = await self._pace(sent)
                    yield self._emit(silence, sent)
            mark_frames, mark_time = line.agent_frames, loop.time()

    def _ready(self, index: int, mark_frames: int, mark_time: float, now: float) -> bool:
        line = self._line
        answered = line.agent_frames - mark_frames
        if now - mark_time >= self._policy.answer_timeout_s:
            return True
        barge = self._barge[index] if index < len(self._barge) else None
        if barge is not None:
            return answered * 20 >= barge
        idle_ms = 1000 * (now - line.last_agent_frame)
        return answered > 0 and idle_ms >= self._policy.agent_idle_ms

    async def _pace(self, sent: int) -> int:
        assert self._line.t0 is not None
        delay = self._line.t0 + 0.02 * sent - asyncio.get_running_loop().time()
        if delay > 0:
            await asyncio.sleep(delay)
        return sent + 1

    def _emit(self, samples: Pcm16, sent: int) -> AudioFrame:
        heard = self._line.codec(samples)
        self._line.caller.append(((sent - 1) * self._line.frame_len, heard))
        return AudioFrame(heard, self._line.rate)


class _AgentSink(AudioSink):
    def __init__(self, line: _Line) -> None:
        self.sample_rate = line.rate
        self._line = line
        self.cleared = 0

    async def send(self, frame: AudioFrame) -> None:
        line = self._line
        now = asyncio.get_running_loop().time()
        line.record_agent(line.codec(frame.samples), now)
        line.agent_frames += 1
        line.last_agent_frame = now

    async def clear(self) -> None:
        self.cleared += 1

    async def wait_for_playout(self) -> None:
        """The simulated line plays each frame the moment it is sent."""


class SimulatedCaller(Transport):
    """A caller that says ``turns`` in order, then hangs up once the agent has answered."""

    def __init__(
        self,
        turns: Sequence[CallerTurn],
        *,
        phone: bool = False,
        policy: CallerPolicy | None = None,
        info: CallInfo | None = None,
    ) -> None:
        self.info = info or CallInfo(f"sim-{next(_call_ids)}", "simulated")
        self._line = _Line(8000 if phone else 16_000, phone)
        self.source: _CallerSource = _CallerSource(self._line, turns, policy or CallerPolicy())
        self.sink: _AgentSink = _AgentSink(self._line)
        self.transferred_to: str | None = None
        self.hung_up = False
        self.dtmf_sent = ""
        self.closed = False

    @property
    def sample_rate(self) -> int:
        return self._line.rate

    async def events(self) -> AsyncIterator[CallEvent]:
        while not self._line.closed.is_set() and (event := await self._line.events.get()):
            yield event

    async def hang_up(self) -> None:
        self.hung_up = True
        self._end()

    async def transfer(self, target: str) -> None:
        self.transferred_to = target
        self._end()

    async def send_dtmf(self, keys: str) -> None:
        if not set(keys) <= DTMF_KEYS:
            raise ValueError(f"not DTMF keys: {keys!r}")
        self.dtmf_sent += keys

    async def aclose(self) -> None:
        self.closed = True
        self._end()

    def _end(self) -> None:
        self._line.closed.set()
        self._line.events.put_nowait(None)

    def recording(self) -> tuple[Pcm16, Pcm16]:
        """(caller, agent) tracks of equal length at :attr:`sample_rate`."""
        return self._line.stereo()
