"""Circuit breakers for providers: after ``failures`` failures in a row a provider is
skipped; after ``cooldown_s`` one request probes it (half-open); its success closes the
breaker, its failure opens it again for another cool-down.

Pure state machines: the time is passed in. A :class:`BreakerBoard` holds the process's
breakers, one per provider kind, provider and account (the same key's outage is shared by
every call; another tenant's key is another breaker), and exports their state as
``voxplane_provider_breaker_state{provider,kind}`` (the worst of that provider's
breakers: 0 closed, 1 half-open, 2 open).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from voxplane.observability import metrics


class BreakerState(IntEnum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    failures: int = 3
    """Failures (errors or timeouts) in a row that open the breaker."""
    cooldown_s: float = 30.0
    """How long an open breaker refuses before it lets one probe through."""


class Breaker:
    """One provider's breaker. ``allow`` before a request; then exactly one of
    ``succeeded``, ``failed`` or ``abandoned`` (no outcome: cancelled)."""

    def __init__(
        self, policy: BreakerPolicy, on_change: Callable[[BreakerState], None] | None = None
    ) -> None:
        self.policy = policy
        self.state = BreakerState.CLOSED
        self.failures = 0
        self._opened_at = 0.0
        self._probing = False
        self._on_change = on_change

    def allow(self, now: float) -> bool:
        """Whether a request may go to the provider now (claims the probe when half-open)."""
        if self.state is BreakerState.OPEN:
            if now - self._opened_at < self.policy.cooldown_s:
                return False
            self._set(BreakerState.HALF_OPEN)
        if self.state is BreakerState.HALF_OPEN:
            if self._probing:
                return False
            self._probing = True
        return True

    def succeeded(self) -> None:
        self._probing = False
        self.failures = 0
        self._set(BreakerState.CLOSED)

    def failed(self, now: float) -> None:
        self._probing = False
        self.failures += 1
        if self.state is BreakerState.HALF_OPEN or self.failures >= self.policy.failures:
            self._opened_at = now
            self._set(BreakerState.OPEN)

    def abandoned(self) -> None:
        """The request ended with no verdict (the caller stopped waiting)."""
        self._probing = False

    def _set(self, state: BreakerState) -> None:
        if state is not self.state:
            self.state = state
            if self._on_change is not None:
                self._on_change(state)


BreakerKey = tuple[str, str, str, BreakerPolicy]
"""kind (stt, tts, llm), provider name, account (a fingerprint, never a key), policy."""


class BreakerBoard:
    """The process's breakers, shared by every call, with their state as a metric."""

    def __init__(self) -> None:
        self._breakers: dict[BreakerKey, Breaker] = {}
        self._lock = threading.Lock()

    def breaker(self, kind: str, provider: str, account: str, policy: BreakerPolicy) -> Breaker:
        key = (kind, provider, account, policy)
        with self._lock:
            found = self._breakers.get(key)
            if found is None:
                found = Breaker(policy, lambda _state: self._publish(kind, provider))
                self._breakers[key] = found
                self._publish_locked(kind, provider)
            return found

    def _publish(self, kind: str, provider: str) -> None:
        with self._lock:
            self._publish_locked(kind, provider)

    def _publish_locked(self, kind: str, provider: str) -> None:
        states = [
            b.state for (k, p, _a, _pol), b in self._breakers.items() if (k, p) == (kind, provider)
        ]
        metrics.BREAKER_STATE.labels(provider, kind).set(max(states, default=0))
