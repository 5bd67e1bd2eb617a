"""WAV decoding to mono int16 and encoding from int16, with clear errors for bad files.

Decoding parses the RIFF chunks itself (stdlib ``wave`` rejects IEEE float and most
WAVE_FORMAT_EXTENSIBLE files): 8/16/24/32-bit integer PCM and 32/64-bit float, any channel
count mixed down to mono. A data chunk whose declared size runs past the end of the bytes
(streaming writers put 0 or 0xFFFFFFFF there) is read up to the last whole frame.
"""

from __future__ import annotations

import io
import struct
import wave
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from voxplane.errors import AudioError
from voxplane.media.frame import Pcm16

WAVE_FORMAT_PCM = 0x0001
WAVE_FORMAT_IEEE_FLOAT = 0x0003
WAVE_FORMAT_EXTENSIBLE = 0xFFFE

MIN_RATE = 4000
MAX_RATE = 192_000
MAX_CHANNELS = 64
DEFAULT_MAX_SECONDS = 600.0

_PCM_BITS = (8, 16, 24, 32)
_FLOAT_BITS = (32, 64)


@dataclass(frozen=True, slots=True)
class WavFormat:
    """The parts of a WAV ``fmt `` chunk that decoding needs."""

    code: int
    channels: int
    rate: int
    bits: int

    @property
    def frame_bytes(self) -> int:
        return self.channels * self.bits // 8


def _parse_fmt(body: bytes) -> WavFormat:
    if len(body) < 16:
        raise AudioError("WAV header is truncated or corrupt (short fmt chunk)")
    code, channels, rate, _byte_rate, _align, bits = struct.unpack_from("<HHIIHH", body)
    if code == WAVE_FORMAT_EXTENSIBLE:
        if len(body) < 26:
            raise AudioError("WAV header is truncated or corrupt (short extensible fmt chunk)")
        (code,) = struct.unpack_from("<H", body, 24)  # first two bytes of the SubFormat GUID
    return WavFormat(code, channels, rate, bits)


def _chunks(data: bytes) -> tuple[WavFormat, bytes]:
    """Find the fmt and data chunks; the data chunk is clipped to the bytes present."""
    if not data:
        raise AudioError("WAV file is empty")
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioError("not a WAV file (no RIFF/WAVE header)")
    fmt: WavFormat | None = None
    payload: bytes | None = None
    pos = 12
    while pos + 8 <= len(data) and (fmt is None or payload is None):
        chunk_id, size = struct.unpack_from("<4sI", data, pos)
        body = data[pos + 8 : pos + 8 + size]
        if chunk_id == b"fmt ":
            fmt = _parse_fmt(body)
        elif chunk_id == b"data":
            payload = body
        pos += 8 + size + (size & 1)  # chunks are word-aligned
    if fmt is None:
        raise AudioError("WAV header is truncated or corrupt (no fmt chunk)")
    if payload is None:
        raise AudioError("WAV file is truncated or corrupt (no data chunk)")
    return fmt, payload


def _check_format(fmt: WavFormat) -> None:
    if not 1 <= fmt.channels <= MAX_CHANNELS:
        raise AudioError(f"WAV channel count {fmt.channels} is not supported")
    if not MIN_RATE <= fmt.rate <= MAX_RATE:
        raise AudioError(
            f"WAV sample rate {fmt.rate} Hz is not supported ({MIN_RATE}..{MAX_RATE} Hz)"
        )
    pcm_ok = fmt.code == WAVE_FORMAT_PCM and fmt.bits in _PCM_BITS
    float_ok = fmt.code == WAVE_FORMAT_IEEE_FLOAT and fmt.bits in _FLOAT_BITS
    if not (pcm_ok or float_ok):
        kind = {WAVE_FORMAT_PCM: "PCM", WAVE_FORMAT_IEEE_FLOAT: "float"}.get(
            fmt.code, f"format 0x{fmt.code:04x}"
        )
        raise AudioError(f"WAV {kind} with {fmt.bits}-bit samples is not supported")


def _int_samples(raw: bytes, bits: int) -> npt.NDArray[np.int32]:
    """Integer PCM → int32 at int16 scale."""
    if bits == 8:
        return (np.frombuffer(raw, dtype=np.uint8).astype(np.int32) - 128) << 8
    if bits == 16:
        return np.frombuffer(raw, dtype="<i2").astype(np.int32)
    if bits == 24:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        value = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        return ((value ^ 0x800000) - 0x800000) >> 8  # sign-extend, then drop 8 bits
    return np.frombuffer(raw, dtype="<i4") >> 16


def _clip16(values: npt.NDArray[np.floating]) -> Pcm16:
    clipped: Pcm16 = np.clip(np.round(values), -32768, 32767).astype(np.int16)
    return clipped


def _to_mono(raw: bytes, fmt: WavFormat) -> Pcm16:
    channels = fmt.channels
    if fmt.code == WAVE_FORMAT_IEEE_FLOAT:
        values = np.frombuffer(raw, dtype="<f4" if fmt.bits == 32 else "<f8")
        mixed = values.reshape(-1, channels).mean(axis=1) if channels > 1 else values
        scaled = np.nan_to_num(mixed, nan=0.0) * 32768.0
        return _clip16(scaled)
    ints = _int_samples(raw, fmt.bits)
    if channels == 1:
        return ints.astype(np.int16)
    total = ints.reshape(-1, channels).sum(axis=1)
    return _clip16(total / channels)


def decode_wav(data: bytes, *, max_seconds: float = DEFAULT_MAX_SECONDS) -> tuple[Pcm16, int]:
    """Decode a WAV file to mono int16 samples and their sample rate.

    Raises :class:`AudioError` with a one-line message for anything unusable: empty or
    non-WAV bytes, a corrupt header, no audio, an unsupported format or rate, or audio longer
    than ``max_seconds``.
    """
    fmt, payload = _chunks(data)
    _check_format(fmt)
    frames = len(payload) // fmt.frame_bytes
    if frames == 0:
        raise AudioError("WAV file contains no audio")
    seconds = frames / fmt.rate
    if seconds > max_seconds:
        raise AudioError(f"WAV audio is {seconds:.0f} s long; the limit is {max_seconds:g} s")
    return _to_mono(payload[: frames * fmt.frame_bytes], fmt), fmt.rate


def encode_wav(channels: list[Pcm16] | Pcm16, rate: int) -> bytes:
    """Encode 16-bit PCM WAV: one array is mono, a list of equal-length arrays is interleaved."""
    tracks = [channels] if isinstance(channels, np.ndarray) else list(channels)
    if not tracks or any(t.ndim != 1 for t in tracks):
        raise AudioError("encode_wav needs one 1-D array per channel")
    if len({len(t) for t in tracks}) != 1:
        raise AudioError("encode_wav channels differ in length")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioError(f"WAV sample rate {rate} Hz is not supported ({MIN_RATE}..{MAX_RATE} Hz)")
    interleaved = np.stack([t.astype("<i2") for t in tracks], axis=1)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(len(tracks))
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(interleaved.tobytes())
    return buffer.getvalue()
