"""Two mono tracks laid on one clock and read out as interleaved stereo: a call's recording
(caller left, agent right) assembled while the call runs, in bounded memory.

Each channel's audio goes where the clock says it happened (``at`` in samples since the
call began) or, when it arrives faster than real time, right after the channel's previous
audio; gaps are silence. The agent's audio buffered but never played (cleared by a
barge-in) is cut with :meth:`StereoTimeline.truncate`. Audio older than what may still
change is read out with :meth:`StereoTimeline.take`. Pure: the time is passed in.
"""

from __future__ import annotations

import numpy as np

from voxplane.media.frame import Pcm16

CALLER, AGENT = 0, 1


class StereoTimeline:
    """Unsettled audio of both channels from sample ``base`` on."""

    def __init__(self, initial_capacity: int = 32_000) -> None:
        self._buffer = np.zeros((2, initial_capacity), dtype=np.int16)
        self._base = 0
        self._cursor = [0, 0]

    @property
    def base(self) -> int:
        """The first sample not yet taken."""
        return self._base

    def cursor(self, channel: int) -> int:
        """The sample after the channel's latest audio."""
        return self._cursor[channel]

    def put(self, channel: int, samples: Pcm16, at: int) -> None:
        """Lay ``samples`` on ``channel`` at sample ``at``, or right after the channel's
        previous audio if that ends later (never over audio already taken)."""
        start = max(at, self._cursor[channel], self._base)
        end = start + len(samples)
        self._reserve(end - self._base)
        self._buffer[channel, start - self._base : end - self._base] = samples
        self._cursor[channel] = end

    def truncate(self, channel: int, at: int) -> None:
        """Drop the channel's audio from sample ``at`` on (it was never heard)."""
        at = max(at, self._base)
        if at < self._cursor[channel]:
            self._buffer[channel, at - self._base : self._cursor[channel] - self._base] = 0
            self._cursor[channel] = at

    def take(self, upto: int) -> bytes:
        """Interleaved 16-bit stereo from ``base`` to sample ``upto`` (settled audio)."""
        count = max(0, upto - self._base)
        self._reserve(count)
        out = self._buffer[:, :count].T.tobytes()
        self._buffer[:, : self._buffer.shape[1] - count] = self._buffer[:, count:].copy()
        self._buffer[:, self._buffer.shape[1] - count :] = 0
        self._base += count
        return out

    def finish(self) -> bytes:
        """Everything left, up to the later channel's end."""
        return self.take(max(self._cursor))

    def _reserve(self, length: int) -> None:
        capacity = self._buffer.shape[1]
        if length > capacity:
            grown = np.zeros((2, max(length, 2 * capacity)), dtype=np.int16)
            grown[:, :capacity] = self._buffer
            self._buffer = grown
