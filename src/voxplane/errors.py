"""The one error tree of voxplane.

::

    VoxplaneError                 (retryable: bool)
    ├── ConfigError               an agent document or setting is invalid (names field and line)
    ├── AudioError                audio input that cannot be used (corrupt, empty, wrong format)
    ├── ProviderError             an STT / brain / TTS provider failed
    │   └── ModelUnavailableError a local model or its package is not installed
    ├── CallError                 a call could not proceed (transport closed, bad state)
    ├── ProtocolError             bytes from a peer (SIP, SDP, RTP, RTCP) that cannot be used;
    │                             ``status`` is the SIP response to answer (400, 413, 488, 505…)
    └── ControlError              a control-plane request cannot be served (HTTP status)
        ├── NotFoundError         404: absent, or another tenant's (never told apart)
        ├── ConflictError         409: a unique value already taken, a stale state
        ├── AuthError             401: missing, wrong or expired credentials
        ├── ForbiddenError        403: authenticated, but the role or scope does not allow it
        ├── InvalidError          422: a value a schema cannot check (names the field)
        ├── LimitError            429: a rate limit or a concurrent-call quota is exhausted
        └── UnavailableError      503: a backend (database, Redis) is unreachable; retryable

Third-party exceptions are translated into these once, at the boundary where they occur.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal


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


class ProtocolError(VoxplaneError):
    """A peer sent bytes that cannot be used; ``status`` is the SIP status to answer with.

    400 for malformed input, 413 for oversize, 488 when an SDP offer has no common codec,
    505 for an unsupported SIP version. Media parsers (RTP, RTCP) use it too: the caller
    drops the packet and keeps going.
    """

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class ControlError(VoxplaneError):
    """A control-plane request cannot be served; ``status`` is its HTTP status."""

    status: int = 400
    title: str = "Bad request"


class NotFoundError(ControlError):
    """The object does not exist, or belongs to another tenant (never told apart)."""

    status = 404
    title = "Not found"


class ConflictError(ControlError):
    """A unique value is already taken, or the object is in a state that forbids this."""

    status = 409
    title = "Conflict"


class AuthError(ControlError):
    """Missing, wrong or expired credentials."""

    status = 401
    title = "Unauthorized"


class ForbiddenError(ControlError):
    """Authenticated, but the role or the key's scopes do not allow this."""

    status = 403
    title = "Forbidden"


class InvalidError(ControlError):
    """A value that a schema cannot check is invalid; ``field`` names it."""

    status = 422
    title = "Invalid request"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        choices: Sequence[tuple[str, str]] = (),
    ) -> None:
        super().__init__(message)
        self.field = field
        self.choices = list(choices)
        """The values ``field`` may take, as (value, label): for a picker."""


class LimitError(ControlError):
    """A rate limit or the concurrent-call quota is exhausted; retry after ``retry_after_s``."""

    status = 429
    title = "Too many requests"
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        retry_after_s: float,
        kind: Literal["rate", "concurrent_calls", "call_minutes"] = "rate",
    ) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.kind = kind


class UnavailableError(ControlError):
    """A backend the request needs (database, Redis) is unreachable, or this worker is
    full; ``retry_after_s``, when known, says when to try again (``Retry-After``)."""

    status = 503
    title = "Service unavailable"
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        retryable: bool | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message, retryable=retryable)
        self.retry_after_s = retry_after_s
