"""Security helpers for the control plane: passwords, secrets at rest, tokens.

Pure functions and small classes, no I/O except :func:`load_keyring`. Failures are
voxplane errors: :class:`~voxplane.errors.AuthError` for a bad token,
:class:`~voxplane.errors.ConfigError` for bad key material,
:class:`~voxplane.errors.InvalidError` for a weak password. No message ever carries a
secret, a token or a key.
"""

from __future__ import annotations

from voxplane.security.passwords import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    hash_password,
    hash_password_off_loop,
    needs_rehash,
    verify_password,
    verify_password_off_loop,
)
from voxplane.security.secretbox import Keyring, Sealed, load_keyring, mask_secret
from voxplane.security.tokens import (
    AccessClaims,
    TokenSigner,
    looks_like,
    new_token,
    token_digest,
)

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "AccessClaims",
    "Keyring",
    "Sealed",
    "TokenSigner",
    "hash_password",
    "hash_password_off_loop",
    "load_keyring",
    "looks_like",
    "mask_secret",
    "needs_rehash",
    "new_token",
    "token_digest",
    "verify_password",
    "verify_password_off_loop",
]
