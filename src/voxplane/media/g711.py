"""G.711 μ-law and A-law codecs (ITU-T G.711) over numpy lookup tables.

The tables are built once at import from the reference algorithm (the one in CCITT's
``g711.c`` and CPython's ``audioop``), so encoding is bit-exact with ``audioop.lin2ulaw`` /
``lin2alaw`` and decoding with ``ulaw2lin`` / ``alaw2lin`` for 16-bit samples.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from voxplane.media.frame import Pcm16

_QUANT_MASK = 0x0F
_SEG_MASK = 0x70
_SEG_SHIFT = 4
_SIGN_BIT = 0x80
_ULAW_BIAS = 0x84
_ULAW_CLIP = 8159

# Upper magnitude bound of each of the eight segments.
_SEG_UEND = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF], dtype=np.int32)
_SEG_AEND = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF], dtype=np.int32)

_I32 = npt.NDArray[np.int32]


def _build_ulaw_decode() -> Pcm16:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    t = ((u & _QUANT_MASK) << 3) + _ULAW_BIAS
    t = t << ((u & _SEG_MASK) >> _SEG_SHIFT)
    return np.where(u & _SIGN_BIT, _ULAW_BIAS - t, t - _ULAW_BIAS).astype(np.int16)


def _build_alaw_decode() -> Pcm16:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    seg = (a & _SEG_MASK) >> _SEG_SHIFT
    t = (a & _QUANT_MASK) << 4
    t = np.where(seg == 0, t + 8, (t + 0x108) << np.maximum(seg - 1, 0))
    return np.where(a & _SIGN_BIT, t, -t).astype(np.int16)


def _all_int16() -> _I32:
    """Every int16 value, ordered by its uint16 bit pattern (the encode table index)."""
    return np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int32)


def _build_ulaw_encode() -> npt.NDArray[np.uint8]:
    pcm = _all_int16() >> 2  # 14-bit
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    mag = np.minimum(np.abs(pcm), _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    seg = np.searchsorted(_SEG_UEND, mag, side="left").astype(np.int32)
    quant = (mag >> (np.minimum(seg, 7) + 1)) & _QUANT_MASK
    uval = np.where(seg >= 8, 0x7F, (seg << _SEG_SHIFT) | quant)
    return (uval ^ mask).astype(np.uint8)


def _build_alaw_encode() -> npt.NDArray[np.uint8]:
    pcm = _all_int16() >> 3  # 13-bit
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    mag = np.where(pcm >= 0, pcm, -pcm - 1)
    seg = np.searchsorted(_SEG_AEND, mag, side="left").astype(np.int32)
    shift = np.where(seg < 2, 1, np.minimum(seg, 7))
    aval = np.where(seg >= 8, 0x7F, (seg << _SEG_SHIFT) | ((mag >> shift) & _QUANT_MASK))
    return (aval ^ mask).astype(np.uint8)


ULAW_DECODE: Pcm16 = _build_ulaw_decode()
"""μ-law code → int16 sample (256 entries)."""
ALAW_DECODE: Pcm16 = _build_alaw_decode()
"""A-law code → int16 sample (256 entries)."""
_ULAW_ENCODE = _build_ulaw_encode()
_ALAW_ENCODE = _build_alaw_encode()
for _table in (ULAW_DECODE, ALAW_DECODE, _ULAW_ENCODE, _ALAW_ENCODE):
    _table.flags.writeable = False


def _index(samples: Pcm16) -> npt.NDArray[np.uint16]:
    return np.ascontiguousarray(samples, dtype=np.int16).view(np.uint16)


def ulaw_encode(samples: Pcm16) -> bytes:
    """Encode int16 samples to μ-law bytes, one byte per sample."""
    return _ULAW_ENCODE.take(_index(samples)).tobytes()


def ulaw_decode(data: bytes) -> Pcm16:
    """Decode μ-law bytes to int16 samples."""
    return ULAW_DECODE.take(np.frombuffer(data, dtype=np.uint8))


def alaw_encode(samples: Pcm16) -> bytes:
    """Encode int16 samples to A-law bytes, one byte per sample."""
    return _ALAW_ENCODE.take(_index(samples)).tobytes()


def alaw_decode(data: bytes) -> Pcm16:
    """Decode A-law bytes to int16 samples."""
    return ALAW_DECODE.take(np.frombuffer(data, dtype=np.uint8))
