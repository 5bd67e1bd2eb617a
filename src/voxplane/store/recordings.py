"""Call recordings: one stereo WAV per call (caller left, agent right), behind a small
storage interface.

The runtime streams a call's audio in with a :class:`RecordingWriter` while the call runs
(memory stays bounded whatever its length) and commits it when the call ends; the API
reads byte ranges of a committed recording back. :class:`LocalRecordingStore` keeps the
files under the data directory; an S3-compatible store implements the same three methods
(multipart upload to write, ranged GET to read, a lifecycle rule or a listing to purge).
"""

from __future__ import annotations

import asyncio
import os
import re
import struct
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

WAV_HEADER_BYTES = 44
READ_CHUNK = 64 * 1024
_KEY = re.compile(r"[A-Za-z0-9_]{1,64}")


def wav_header(sample_rate: int, channels: int, data_bytes: int) -> bytes:
    """A canonical 44-byte RIFF/WAVE header for 16-bit PCM."""
    block = 2 * channels
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + data_bytes,
        b"WAVE",
        b"fmt ",
        16,
        1,
        channels,
        sample_rate,
        sample_rate * block,
        block,
        16,
        b"data",
        data_bytes,
    )


class RecordingWriter(ABC):
    """One call's recording being written: interleaved 16-bit PCM, in order."""

    @abstractmethod
    async def write(self, pcm: bytes) -> None: ...

    @abstractmethod
    async def commit(self) -> None:
        """Finish the file and make it readable. Nothing is readable before."""

    @abstractmethod
    async def abort(self) -> None:
        """Drop what was written (the call will not be kept)."""


class Recording(ABC):
    """A committed recording: a WAV file of ``size`` bytes, read by byte range."""

    size: int
    media_type = "audio/wav"

    @abstractmethod
    def read(self, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes ``start`` to ``end`` (exclusive), in chunks."""


class RecordingStore(ABC):
    """Where recordings live. Keys are ``(tenant_id, call_id)``: a tenant reaches only its
    own recordings, because the key is built from the tenant of the call it was allowed
    to read."""

    @abstractmethod
    async def create(self, tenant_id: str, call_id: str, sample_rate: int) -> RecordingWriter:
        """Start a stereo recording."""

    @abstractmethod
    async def open(self, tenant_id: str, call_id: str) -> Recording | None:
        """The committed recording, or None."""

    @abstractmethod
    async def purge_before(self, tenant_id: str, before: datetime) -> int:
        """Delete the tenant's recordings finished before ``before``; how many went."""


def _key(value: str) -> str:
    if not _KEY.fullmatch(value):
        raise ValueError("not a tenant or call id")
    return value


class LocalRecordingStore(RecordingStore):
    """Recordings as files: ``<root>/<tenant_id>/<call_id>.wav`` (``.part`` while written)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, tenant_id: str, call_id: str) -> Path:
        return self.root / _key(tenant_id) / f"{_key(call_id)}.wav"

    async def create(self, tenant_id: str, call_id: str, sample_rate: int) -> RecordingWriter:
        path = self.path(tenant_id, call_id)
        return await asyncio.to_thread(_LocalWriter.start, path, sample_rate)

    async def open(self, tenant_id: str, call_id: str) -> Recording | None:
        try:
            path = self.path(tenant_id, call_id)
        except ValueError:
            return None
        try:
            size = (await asyncio.to_thread(path.stat)).st_size
        except FileNotFoundError:
            return None
        return _LocalRecording(path, size)

    async def purge_before(self, tenant_id: str, before: datetime) -> int:
        return await asyncio.to_thread(self._purge, _key(tenant_id), before.timestamp())

    def _purge(self, tenant_id: str, before: float) -> int:
        folder = self.root / tenant_id
        removed = 0
        if not folder.is_dir():
            return 0
        for path in folder.glob("*.wav"):
            try:
                if path.stat().st_mtime < before:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:  # purged by another worker meanwhile
                continue
        return removed


class _LocalWriter(RecordingWriter):
    def __init__(self, path: Path, file: BinaryIO, sample_rate: int) -> None:
        self._path = path
        self._file = file
        self._rate = sample_rate
        self._bytes = 0
        self._closed = False

    @classmethod
    def start(cls, path: Path, sample_rate: int) -> _LocalWriter:
        path.parent.mkdir(parents=True, exist_ok=True)
        file = open(path.with_suffix(".part"), "wb")  # noqa: SIM115 - closed by commit/abort
        file.write(wav_header(sample_rate, 2, 0))
        return cls(path, file, sample_rate)

    async def write(self, pcm: bytes) -> None:
        if pcm and not self._closed:
            self._bytes += len(pcm)
            await asyncio.to_thread(self._file.write, pcm)

    async def commit(self) -> None:
        if not self._closed:
            self._closed = True
            await asyncio.to_thread(self._finish)

    def _finish(self) -> None:
        self._file.seek(0)
        self._file.write(wav_header(self._rate, 2, self._bytes))
        self._file.close()
        os.replace(self._path.with_suffix(".part"), self._path)

    async def abort(self) -> None:
        if not self._closed:
            self._closed = True
            self._file.close()
            await asyncio.to_thread(self._path.with_suffix(".part").unlink, missing_ok=True)


class _LocalRecording(Recording):
    def __init__(self, path: Path, size: int) -> None:
        self._path = path
        self.size = size

    async def read(self, start: int, end: int) -> AsyncIterator[bytes]:
        with open(self._path, "rb") as file:  # noqa: ASYNC230 - reads go to a thread below
            await asyncio.to_thread(file.seek, start)
            left = end - start
            while left > 0:
                chunk = await asyncio.to_thread(file.read, min(READ_CHUNK, left))
                if not chunk:
                    return
                left -= len(chunk)
                yield chunk
