"""Password hashing with argon2id, and the one password rule the control plane enforces.

Passwords are low-entropy, so they get a slow, memory-hard hash. API keys and refresh
tokens are high-entropy and use :func:`voxplane.security.tokens.token_digest` instead.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.profiles import RFC_9106_LOW_MEMORY

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
"""Hashing is deliberately slow: an unbounded password would be a cheap denial of service."""

# RFC 9106's second recommendation (argon2id, t=3, 64 MiB, p=4): strong, and it fits
# small servers where the first (2 GiB) would not.
_hasher = PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY)


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` in PHC string form, salt and parameters included."""
    return _hasher.hash(password)


def verify_password(stored: str, password: str) -> bool:
    """Whether ``password`` matches ``stored``; False, never an error, for a malformed hash."""
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether ``stored`` was made with other parameters than today's and should be redone.

    Call it after a successful :func:`verify_password`, while the plain password is at hand.
    """
    try:
        return _hasher.check_needs_rehash(stored)
    except InvalidHashError:
        return True  # unreadable: replacing it is the only way forward
