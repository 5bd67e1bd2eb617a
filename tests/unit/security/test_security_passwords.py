"""Password hashing round trips, and malformed input never raises."""

from __future__ import annotations

import pytest

from voxplane.security import (
    hash_password,
    needs_rehash,
    verify_password,
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
