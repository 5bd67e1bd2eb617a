"""WAV decoding and encoding, including every kind of bad input."""

from __future__ import annotations

import struct
from collections.abc import Callable

import numpy as np
import pytest
from _media_audio import fsdd_path, sine

from voxplane.errors import AudioError
from voxplane.media.frame import Pcm16
from voxplane.media.level import is_silent, rms_dbfs
from voxplane.media.wav import (
    WAVE_FORMAT_EXTENSIBLE,
    WAVE_FORMAT_IEEE_FLOAT,
    WAVE_FORMAT_PCM,
    decode_wav,
    encode_wav,
)


def _riff(code: int, channels: int, rate: int, bits: int, payload: bytes, **kw: int) -> bytes:
    """Build a WAV by hand; ``data_size`` overrides the declared data chunk size."""
    align = channels * bits // 8
    if code == WAVE_FORMAT_EXTENSIBLE:
        sub = kw["sub"]
        fmt = struct.pack(
            "<HHIIHHHHI", code, channels, rate, rate * align, align, bits, 22, bits, 0
        )
        fmt += struct.pack("<H14s", sub, b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x008\x9bq")
    else:
        fmt = struct.pack("<HHIIHH", code, channels, rate, rate * align, align, bits)
    data_size = kw.get("data_size", len(payload))
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", data_size) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


RAMP = np.array([0, 1000, -1000, 32767, -32768, 256, -256, 12345], dtype=np.int16)


def test_round_trip_mono() -> None:
    samples = sine(440, 16000, 0.5)
    decoded, rate = decode_wav(encode_wav(samples, 16000))
    assert rate == 16000
    np.testing.assert_array_equal(decoded, samples)


def test_stereo_is_mixed_down_to_mono() -> None:
    left = np.array([1000, -2000, 32767, -32768, 3], dtype=np.int16)
    right = np.array([3000, 2000, 32767, -32768, 0], dtype=np.int16)
    decoded, rate = decode_wav(encode_wav([left, right], 8000))
    assert rate == 8000
    np.testing.assert_array_equal(decoded, [2000, 0, 32767, -32768, 2])


def test_real_fsdd_file_decodes() -> None:
    samples, rate = decode_wav(fsdd_path("7_theo_0.wav").read_bytes())
    assert rate == 8000
    assert samples.dtype == np.int16
    assert 0.2 < len(samples) / rate < 1.5
    assert not is_silent(samples)


@pytest.mark.parametrize(
    ("bits", "encode"),
    [
        (8, lambda x: ((x.astype(np.int32) >> 8) + 128).astype(np.uint8).tobytes()),
        (16, lambda x: x.astype("<i2").tobytes()),
        (24, lambda x: b"".join(struct.pack("<i", int(v) << 8)[:3] for v in x)),
        (32, lambda x: (x.astype("<i4") << 16).tobytes()),
    ],
)
def test_integer_pcm_widths(bits: int, encode: Callable[[Pcm16], bytes]) -> None:
    decoded, rate = decode_wav(_riff(WAVE_FORMAT_PCM, 1, 16000, bits, encode(RAMP)))
    assert rate == 16000
    expected = (RAMP.astype(np.int32) >> 8) << 8 if bits == 8 else RAMP
    np.testing.assert_array_equal(decoded, expected)


@pytest.mark.parametrize("dtype", ["<f4", "<f8"])
def test_ieee_float(dtype: str) -> None:
    values = np.array([0.0, 0.5, -0.5, 1.0, -1.0, 2.0], dtype=dtype)
    bits = np.dtype(dtype).itemsize * 8
    decoded, _ = decode_wav(_riff(WAVE_FORMAT_IEEE_FLOAT, 1, 8000, bits, values.tobytes()))
    np.testing.assert_array_equal(decoded, [0, 16384, -16384, 32767, -32768, 32767])


def test_extensible_float_stereo() -> None:
    values = np.array([[0.5, 0.0], [-0.25, -0.25]], dtype="<f4")
    wav = _riff(WAVE_FORMAT_EXTENSIBLE, 2, 48000, 32, values.tobytes(), sub=3)
    decoded, rate = decode_wav(wav)
    assert rate == 48000
    np.testing.assert_array_equal(decoded, [8192, -8192])


def test_huge_declared_data_size_reads_what_is_there() -> None:
    wav = _riff(WAVE_FORMAT_PCM, 1, 8000, 16, RAMP.tobytes() + b"\x01", data_size=0xFFFFFFFF)
    decoded, _ = decode_wav(wav)
    np.testing.assert_array_equal(decoded, RAMP)


def test_longer_than_limit_is_rejected() -> None:
    wav = encode_wav(np.zeros(8000 * 3, dtype=np.int16), 8000)
    with pytest.raises(AudioError, match=r"^WAV audio is 3 s long; the limit is 2 s$"):
        decode_wav(wav, max_seconds=2)
    assert len(decode_wav(wav, max_seconds=3)[0]) == 8000 * 3


def test_default_limit_is_600_seconds() -> None:
    wav = encode_wav(np.zeros(4000 * 601, dtype=np.int16), 4000)
    with pytest.raises(AudioError, match="is 601 s long; the limit is 600 s"):
        decode_wav(wav)


GOOD = encode_wav(RAMP, 8000)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "WAV file is empty"),
        (bytes(np.random.default_rng(1).integers(0, 256, 500, dtype=np.uint8)), "not a WAV"),
        (b"RIFF", "not a WAV"),
        (GOOD[:12], "no fmt chunk"),
        (GOOD[:28], "short fmt chunk"),
        (GOOD[:36], "no data chunk"),
        (GOOD[:44], "contains no audio"),
        (GOOD[:45], "contains no audio"),
        (_riff(WAVE_FORMAT_PCM, 1, 8000, 16, b""), "contains no audio"),
        (_riff(WAVE_FORMAT_PCM, 1, 3999, 16, RAMP.tobytes()), "sample rate 3999 Hz"),
        (_riff(WAVE_FORMAT_PCM, 1, 384000, 16, RAMP.tobytes()), "sample rate 384000 Hz"),
        (_riff(WAVE_FORMAT_PCM, 1, 8000, 12, RAMP.tobytes()), "PCM with 12-bit"),
        (_riff(WAVE_FORMAT_IEEE_FLOAT, 1, 8000, 16, RAMP.tobytes()), "float with 16-bit"),
        (_riff(0x0006, 1, 8000, 8, RAMP.tobytes()), "format 0x0006"),
        (_riff(WAVE_FORMAT_PCM, 0, 8000, 16, RAMP.tobytes()), "channel count 0"),
    ],
    ids=[
        "empty",
        "random-bytes",
        "riff-only",
        "header-only",
        "truncated-fmt",
        "no-data-chunk",
        "empty-data",
        "half-a-frame",
        "zero-frames",
        "rate-too-low",
        "rate-too-high",
        "12-bit-pcm",
        "16-bit-float",
        "mu-law-format",
        "zero-channels",
    ],
)
def test_bad_input_raises_one_line_audio_error(data: bytes, message: str) -> None:
    with pytest.raises(AudioError, match=message) as caught:
        decode_wav(data)
    assert "\n" not in str(caught.value)


def test_encode_rejects_mismatched_channels() -> None:
    with pytest.raises(AudioError, match="differ in length"):
        encode_wav([RAMP, RAMP[:3]], 8000)
    with pytest.raises(AudioError, match="sample rate"):
        encode_wav(RAMP, 1)


def test_levels() -> None:
    assert rms_dbfs(np.zeros(160, dtype=np.int16)) == -100.0
    assert rms_dbfs(np.full(160, -32768, dtype=np.int16)) == pytest.approx(0.0)
    assert rms_dbfs(sine(440, 8000, 1.0, amplitude=32767)) == pytest.approx(-3.01, abs=0.02)
    assert is_silent(np.full(160, 10, dtype=np.int16))
    assert not is_silent(np.full(160, 100, dtype=np.int16))
