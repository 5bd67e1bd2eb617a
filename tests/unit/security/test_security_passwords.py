"""Password hashing round trips, and malformed input never raises."""

from __future__ import annotations

import asyncio

import pytest

from voxplane.security import (
    hash_password,
    hash_password_off_loop,
    needs_rehash,
    verify_password,
    verify_password_off_loop,
)


def test_hash_verifies_the_same_password_only() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert "correct horse battery" not in stored
    assert verify_password(stored, "correct horse battery")
    assert not verify_password(stored, "correct horse batterY")
    assert not needs_rehash(stored)


def test_same_password_hashes_differently_each_time() -> None:
    assert hash_password("same password") != hash_password("same password")


@pytest.mark.parametrize("stored", ["", "not a hash", "$argon2id$v=19$garbage", "$2b$12$abc"])
def test_malformed_hash_is_a_mismatch_not_an_error(stored: str) -> None:
    assert verify_password(stored, "whatever1") is False
    assert needs_rehash(stored)


def test_weaker_parameters_need_a_rehash() -> None:
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("old password")
    assert verify_password(weak, "old password")
    assert needs_rehash(weak)


def test_hashing_off_the_loop_leaves_the_event_loop_running() -> None:
    """A hash holds a core for ~130 ms: on the loop it would stall every call meanwhile."""

    async def scenario() -> tuple[bool, bool, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.001)
                ticks += 1

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        try:
            stored = await hash_password_off_loop("correct horse battery")
            right = await verify_password_off_loop(stored, "correct horse battery")
            wrong = await verify_password_off_loop(stored, "correct horse batterY")
        finally:
            task.cancel()
        return right, wrong, ticks

    right, wrong, ticks = asyncio.run(scenario())
    assert right and not wrong
    assert ticks >= 10  # on the loop, three hashes would have let it tick at most thrice
