"""The one error tree of voxplane.

::

    VoxplaneError                 (retryable: bool)
    ├── ConfigError               an agent document or setting is invalid (names field and line)
    ├── AudioError                audio input that cannot be used (corrupt, empty, wrong format)
    ├── ProviderError             an STT / brain / TTS provider failed
    │   └── ModelUnavailableError a local model or its package is not installed
    └── CallError                 a call could not proceed (transport closed, bad state)

Third-party exceptions are translated into these once, at the boundary where they occur.
"""

from __future__ import annotations


class VoxplaneError(Exception):
    """Base of every error voxplane raises on purpose."""

    retryable: bool = False

    def __init__(self, message: str, *, retryable: bool | None = None) -> None:
        super().__init__(message)
        self.message = message
        if retryable is not None:
            self.retryable = retryable

    def __str__(self) -> str:
        return self.message


class ConfigError(VoxplaneError):
    """An agent document or setting is invalid; the message names the field (and line)."""


class AudioError(VoxplaneError):
    """Audio that cannot be used: corrupt, empty, wrong format, too large."""


class ProviderError(VoxplaneError):
    """An STT, brain or TTS provider failed."""


class ModelUnavailableError(ProviderError):
    """A local model, or the package that ships it, is not installed."""


class CallError(VoxplaneError):
    """A call could not proceed."""
