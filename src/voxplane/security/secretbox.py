"""Encryption at rest for tenant provider credentials: AES-256-GCM under named keys.

Every sealed secret names the key that sealed it, so keys rotate without a migration: add a
new key as the primary, and old rows still open with the key they name until re-sealed.
The ``context`` (for instance ``f"{tenant_id}:{credential_id}"``) is authenticated but not
stored, so a blob copied into another row or tenant does not open.

Key text format (a key file, or the ``VOXPLANE_SECRET_KEYS`` setting)::

    # the first key is the primary
    k2:3q2-7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
    k1:...

Error messages name key ids and line numbers, never key material or plaintext.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from voxplane.errors import ConfigError

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
_TAMPERED = "cannot decrypt credential: wrong key or tampered data"
_HOW_TO_PROVIDE = (
    "set VOXPLANE_SECRET_KEYS to 'key_id:base64-32-byte-key' lines, or point the key file "
    "setting at a file in that format"
)


@dataclass(frozen=True)
class Sealed:
    """An encrypted secret: the id of the key that sealed it, and nonce(12) || ciphertext+tag."""

    key_id: str
    blob: bytes


class Keyring:
    """Named 256-bit keys: new secrets are sealed with the primary key.

    Old secrets open with the key id they name, as long as that key is still in the ring.
    """

    def __init__(self, keys: Mapping[str, bytes], primary: str) -> None:
        for key_id, key in keys.items():
            if not _KEY_ID.fullmatch(key_id):
                raise ConfigError(f"invalid key id {key_id!r}: use 1-32 of A-Z a-z 0-9 _ -")
            if len(key) != KEY_BYTES:
                raise ConfigError(f"key {key_id!r} must be {KEY_BYTES} bytes, not {len(key)}")
        if primary not in keys:
            raise ConfigError(f"primary key id {primary!r} is not in the keyring")
        self._keys = dict(keys)
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._primary = primary

    @property
    def primary(self) -> str:
        return self._primary

    @property
    def key_ids(self) -> tuple[str, ...]:
        """All key ids, the primary first."""
        return (self._primary, *(k for k in self._keys if k != self._primary))

    def __repr__(self) -> str:  # never the key bytes
        return f"Keyring(key_ids={self.key_ids!r})"

    def seal(self, plaintext: str, *, context: str) -> Sealed:
        """Encrypt ``plaintext`` with the primary key, bound to ``context``."""
        nonce = os.urandom(NONCE_BYTES)  # random 96-bit nonces: safe far beyond our volumes
        cipher = self._ciphers[self._primary]
        ciphertext = cipher.encrypt(nonce, plaintext.encode(), context.encode())
        return Sealed(key_id=self._primary, blob=nonce + ciphertext)

    def open(self, sealed: Sealed, *, context: str) -> str:
        """Decrypt ``sealed``; :class:`ConfigError` if its key is absent or anything is off."""
        cipher = self._ciphers.get(sealed.key_id)
        if cipher is None:
            raise ConfigError(f"cannot decrypt credential: unknown key id {sealed.key_id!r}")
        if len(sealed.blob) < NONCE_BYTES + TAG_BYTES:
            raise ConfigError(_TAMPERED)
        nonce, ciphertext = sealed.blob[:NONCE_BYTES], sealed.blob[NONCE_BYTES:]
        try:
            plaintext = cipher.decrypt(nonce, ciphertext, context.encode())
            return plaintext.decode()
        except (InvalidTag, UnicodeDecodeError):
            raise ConfigError(_TAMPERED) from None

    @classmethod
    def parse(cls, text: str) -> Keyring:
        """Read the key text format; the first key is the primary."""
        keys: dict[str, bytes] = {}
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            key_id, key = _parse_line(line, number)
            if key_id in keys:
                raise ConfigError(f"line {number}: key id {key_id!r} appears twice")
            keys[key_id] = key
        if not keys:
            raise ConfigError(f"no secret keys found: {_HOW_TO_PROVIDE}")
        return cls(keys, primary=next(iter(keys)))

    @classmethod
    def generate(cls, key_id: str = "k1") -> Keyring:
        """A keyring holding one fresh random key."""
        return cls({key_id: secrets.token_bytes(KEY_BYTES)}, primary=key_id)

    def dump(self) -> str:
        """The key text format, primary first; what :meth:`parse` reads back."""
        lines = [
            f"{key_id}:{base64.urlsafe_b64encode(self._keys[key_id]).decode()}"
            for key_id in self.key_ids
        ]
        return "\n".join(lines) + "\n"


def _parse_line(line: str, number: int) -> tuple[str, bytes]:
    key_id, sep, encoded = line.partition(":")
    key_id, encoded = key_id.strip(), encoded.strip()
    if not sep or not encoded:
        raise ConfigError(f"line {number}: expected 'key_id:base64-key'")
    if not _KEY_ID.fullmatch(key_id):
        raise ConfigError(f"line {number}: invalid key id: use 1-32 of A-Z a-z 0-9 _ -")
    key = _decode_key(encoded)
    if key is None:
        raise ConfigError(f"line {number}: key {key_id!r} is not valid base64")
    if len(key) != KEY_BYTES:
        raise ConfigError(f"line {number}: key {key_id!r} must decode to {KEY_BYTES} bytes")
    return key_id, key


def _decode_key(encoded: str) -> bytes | None:
    """Standard or URL-safe base64, padding optional; None if it is neither."""
    normalized = encoded.replace("-", "+").replace("_", "/").rstrip("=")
    normalized += "=" * (-len(normalized) % 4)
    try:
        return base64.b64decode(normalized, validate=True)
    except (binascii.Error, ValueError):
        return None


def load_keyring(*, key_file: Path | None, env_value: str | None, create: bool) -> Keyring:
    """The keyring from ``env_value`` if given (non-blank), else from ``key_file``.

    ``env_value`` is the content of ``VOXPLANE_SECRET_KEYS``, read by the caller. A missing
    ``key_file`` is generated (mode 0600) when ``create`` is true, as in development.
    """
    if env_value is not None and env_value.strip():
        try:
            return Keyring.parse(env_value)
        except ConfigError as exc:
            raise ConfigError(f"VOXPLANE_SECRET_KEYS: {exc.message}") from None
    if key_file is None:
        raise ConfigError(f"no secret keys configured: {_HOW_TO_PROVIDE}")
    if not key_file.exists():
        if not create:
            raise ConfigError(f"secret key file {key_file} does not exist: {_HOW_TO_PROVIDE}")
        return _create_key_file(key_file)
    return _read_key_file(key_file)


def _read_key_file(key_file: Path) -> Keyring:
    try:
        text = key_file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read secret key file {key_file}: {exc.strerror}") from None
    except UnicodeDecodeError:  # its message would quote a byte of the file
        raise ConfigError(f"secret key file {key_file} is not UTF-8 text") from None
    try:
        return Keyring.parse(text)
    except ConfigError as exc:
        raise ConfigError(f"{key_file}: {exc.message}") from None


def _create_key_file(key_file: Path) -> Keyring:
    """Write a fresh keyring atomically; if another process won the race, use its keys."""
    keyring = Keyring.generate()
    tmp = key_file.with_name(f".{key_file.name}.{secrets.token_hex(8)}.tmp")
    try:
        key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(keyring.dump())
            out.flush()
            os.fsync(out.fileno())
        _publish(tmp, key_file)
    except FileExistsError:
        return _read_key_file(key_file)
    except OSError as exc:
        raise ConfigError(f"cannot create secret key file {key_file}: {exc.strerror}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return keyring


def _publish(tmp: Path, key_file: Path) -> None:
    """Move ``tmp`` to ``key_file`` unless it already exists (then FileExistsError)."""
    try:
        # link, not replace: two workers starting at once must not end up with different keys
        os.link(tmp, key_file)
    except FileExistsError:
        raise
    except OSError:  # a filesystem without hard links: lose only the race protection
        os.replace(tmp, key_file)


def mask_secret(secret: str) -> str:
    """A form of ``secret`` safe to show: ``sk-p…wxyz``; never more than 8 of its characters.

    16 characters or more keep the first and last 4; 12-15 keep the last 4; 8-11 the last 2;
    anything shorter keeps nothing.
    """
    if len(secret) >= 16:
        return f"{secret[:4]}…{secret[-4:]}"
    if len(secret) >= 12:
        return f"••••{secret[-4:]}"
    if len(secret) >= 8:
        return f"••••{secret[-2:]}"
    return "••••"
