"""Row ids: a readable prefix and a time-ordered, random body (``agt_01JD…``).

Ordering by id is ordering by creation time, so cursors and "newest first" need no second
column, and ids from different processes never collide (80 random bits per millisecond).
"""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: sorts like the number


def new_id(prefix: str, *, now_ms: int | None = None) -> str:
    """A new id: ``prefix_`` then 26 base32 chars (48-bit milliseconds, 80 random bits)."""
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    return _encode(prefix, (ms << 80) | int.from_bytes(os.urandom(10), "big"))


def first_id(prefix: str, ms: int) -> str:
    """The smallest id :func:`new_id` can make at ``ms``: ids below it were made earlier."""
    return _encode(prefix, max(0, ms) << 80)


def _encode(prefix: str, value: int) -> str:
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return f"{prefix}_{''.join(reversed(chars))}"


def has_shape(value: str, prefix: str) -> bool:
    """Whether ``value`` could be an id made by :func:`new_id` with ``prefix``."""
    head, _, body = value.partition("_")
    return head == prefix and len(body) == 26 and all(c in _ALPHABET for c in body)
