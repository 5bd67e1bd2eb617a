"""G.711 codecs: bit-exact against CPython's audioop, and round trips."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from types import ModuleType

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from voxplane.media.frame import Pcm16
from voxplane.media.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode


def _audioop() -> ModuleType:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop  # gone in 3.13; only the reference here
    return audioop


ALL_INT16 = np.arange(-32768, 32768, dtype=np.int16)
ALL_CODES = bytes(range(256))

LAWS = [
    pytest.param(ulaw_encode, ulaw_decode, "lin2ulaw", "ulaw2lin", id="ulaw"),
    pytest.param(alaw_encode, alaw_decode, "lin2alaw", "alaw2lin", id="alaw"),
]
Encode = Callable[[Pcm16], bytes]
Decode = Callable[[bytes], Pcm16]


@pytest.mark.parametrize(("encode", "decode", "ref_enc", "ref_dec"), LAWS)
def test_encode_matches_audioop_for_every_int16(
    encode: Encode, decode: Decode, ref_enc: str, ref_dec: str
) -> None:
    expected = getattr(_audioop(), ref_enc)(ALL_INT16.tobytes(), 2)
    assert encode(ALL_INT16) == expected


@pytest.mark.parametrize(("encode", "decode", "ref_enc", "ref_dec"), LAWS)
def test_decode_matches_audioop_for_every_code(
    encode: Encode, decode: Decode, ref_enc: str, ref_dec: str
) -> None:
    expected = np.frombuffer(getattr(_audioop(), ref_dec)(ALL_CODES, 2), dtype=np.int16)
    decoded = decode(ALL_CODES)
    assert decoded.dtype == np.int16
    np.testing.assert_array_equal(decoded, expected)


@pytest.mark.parametrize(("encode", "decode", "ref_enc", "ref_dec"), LAWS)
def test_codes_are_fixed_points(encode: Encode, decode: Decode, ref_enc: str, ref_dec: str) -> None:
    # decode→encode returns every code except μ-law's negative zero (0x7F → 0 → 0xFF).
    back = encode(decode(ALL_CODES))
    differing = [c for c, b in zip(ALL_CODES, back, strict=True) if c != b]
    assert differing == ([0x7F] if encode is ulaw_encode else [])


def test_known_values() -> None:
    assert ulaw_encode(np.array([0, -1, 32767, -32768], dtype=np.int16)) == b"\xff\x7e\x80\x00"
    assert alaw_encode(np.array([0, -1, 32767, -32768], dtype=np.int16)) == b"\xd5\x55\xaa\x2a"
    assert ulaw_decode(b"").size == 0


int16_arrays = arrays(np.int16, st.integers(0, 400), elements=st.integers(-32768, 32767))


@given(int16_arrays)
def test_ulaw_round_trip_error_is_bounded(samples: Pcm16) -> None:
    decoded = ulaw_decode(ulaw_encode(samples)).astype(np.int32)
    original = samples.astype(np.int32)
    assert decoded.shape == original.shape
    # The quantisation step doubles per segment: error ≤ half a step ≈ |x|/32 + bias.
    assert np.all(np.abs(decoded - original) <= np.abs(original) // 16 + 8)
    assert ulaw_encode(decoded.astype(np.int16)) == ulaw_encode(samples)


@given(int16_arrays)
def test_alaw_round_trip_error_is_bounded(samples: Pcm16) -> None:
    decoded = alaw_decode(alaw_encode(samples)).astype(np.int32)
    original = samples.astype(np.int32)
    assert decoded.shape == original.shape
    assert np.all(np.abs(decoded - original) <= np.abs(original) // 16 + 16)
    assert alaw_encode(decoded.astype(np.int16)) == alaw_encode(samples)
