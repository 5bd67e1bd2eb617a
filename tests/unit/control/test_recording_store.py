"""The local recording store: nothing readable until committed, byte ranges, abort,
retention purge, and keys that cannot leave the tenant's folder."""

from __future__ import annotations

import asyncio
import os
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from voxplane.store.recordings import LocalRecordingStore


async def _read(store: LocalRecordingStore, tenant: str, call: str, start: int, end: int) -> bytes:
    found = await store.open(tenant, call)
    assert found is not None
    return b"".join([chunk async for chunk in found.read(start, end)])


def test_a_recording_is_readable_once_committed_as_a_stereo_wav(tmp_path: Path) -> None:
    async def main() -> None:
        store = LocalRecordingStore(tmp_path)
        writer = await store.create("ten_a", "cal_1", 16_000)
        await writer.write(b"\x01\x00\x02\x00" * 100)
        assert await store.open("ten_a", "cal_1") is None
        await writer.write(b"\x03\x00\x04\x00" * 100)
        await writer.commit()
        found = await store.open("ten_a", "cal_1")
        assert found is not None and found.size == 44 + 800
        with wave.open(str(store.path("ten_a", "cal_1"))) as wav:
            assert (wav.getnchannels(), wav.getframerate(), wav.getnframes()) == (2, 16_000, 200)
        assert await _read(store, "ten_a", "cal_1", 44, 48) == b"\x01\x00\x02\x00"
        assert await _read(store, "ten_a", "cal_1", 840, 844) == b"\x03\x00\x04\x00"
        assert await store.open("ten_b", "cal_1") is None  # keyed by tenant

    asyncio.run(main())


def test_an_aborted_recording_leaves_nothing(tmp_path: Path) -> None:
    async def main() -> None:
        store = LocalRecordingStore(tmp_path)
        writer = await store.create("ten_a", "cal_2", 16_000)
        await writer.write(b"\x00" * 64)
        await writer.abort()
        assert await store.open("ten_a", "cal_2") is None
        assert list((tmp_path / "ten_a").iterdir()) == []

    asyncio.run(main())


def test_purge_removes_only_the_tenants_old_recordings(tmp_path: Path) -> None:
    async def main() -> None:
        store = LocalRecordingStore(tmp_path)
        for tenant, call in (("ten_a", "cal_old"), ("ten_a", "cal_new"), ("ten_b", "cal_old")):
            writer = await store.create(tenant, call, 16_000)
            await writer.commit()
        month_ago = (datetime.now(UTC) - timedelta(days=30)).timestamp()
        for tenant in ("ten_a", "ten_b"):
            os.utime(store.path(tenant, "cal_old"), (month_ago, month_ago))
        removed = await store.purge_before("ten_a", datetime.now(UTC) - timedelta(days=7))
        assert removed == 1
        assert await store.open("ten_a", "cal_old") is None
        assert await store.open("ten_a", "cal_new") is not None
        assert await store.open("ten_b", "cal_old") is not None

    asyncio.run(main())


@pytest.mark.parametrize("bad", ["../ten_b", "ten_a/../x", "", "a" * 65, "cal.wav"])
def test_keys_cannot_name_a_path_outside_the_store(tmp_path: Path, bad: str) -> None:
    store = LocalRecordingStore(tmp_path)
    with pytest.raises(ValueError):
        store.path(bad, "cal_1")
    with pytest.raises(ValueError):
        store.path("ten_a", bad)
    assert asyncio.run(store.open("ten_a", bad)) is None
