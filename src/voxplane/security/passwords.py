"""Password hashing with argon2id, and the one password rule the control plane enforces.

Passwords are low-entropy, so they get a slow, memory-hard hash. API keys and refresh
tokens are high-entropy and use :func:`voxplane.security.tokens.token_digest` instead.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.profiles import RFC_9106_LOW_MEMORY

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
"""Hashing is deliberately slow: an unbounded password would be a cheap denial of service."""

# RFC 9106's second recommendation (argon2id, t=3, 64 MiB, p=4): strong, and it fits
# small servers where the first (2 GiB) would not.
_hasher = PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY)
_HASHING = ThreadPoolExecutor(max_workers=2, thread_name_prefix="password-hash")
"""Where the control plane hashes: one hash holds a core for ~130 ms, and an event loop
blocked that long stalls every call on the worker (argon2 releases the GIL, so a thread
does not). Two at most: each takes 64 MiB."""


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` in PHC string form, salt and parameters included.
    It takes ~130 ms of a core: on an event loop, :func:`hash_password_off_loop`."""
    return _hasher.hash(password)


def verify_password(stored: str, password: str) -> bool:
    """Whether ``password`` matches ``stored``; False, never an error, for a malformed hash.
    As slow as hashing: on an event loop, :func:`verify_password_off_loop`."""
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


async def hash_password_off_loop(password: str) -> str:
    """:func:`hash_password` in the hashing threads, for code on an event loop."""
    return await asyncio.get_running_loop().run_in_executor(_HASHING, hash_password, password)


async def verify_password_off_loop(stored: str, password: str) -> bool:
    """:func:`verify_password` in the hashing threads, for code on an event loop."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_HASHING, verify_password, stored, password)


def needs_rehash(stored: str) -> bool:
    """Whether ``stored`` was made with other parameters than today's and should be redone.

    Call it after a successful :func:`verify_password`, while the plain password is at hand.
    """
    try:
        return _hasher.check_needs_rehash(stored)
    except InvalidHashError:
        return True  # unreadable: replacing it is the only way forward
