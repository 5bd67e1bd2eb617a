"""Keeping voxplane registered at its trunks' registrars: the asyncio side of
:mod:`.register`.

Each registration REGISTERs (answering the registrar's digest challenge), renews before
the binding lapses (:func:`~.register.refresh_after`), retries after a failure (the
registrar's ``Retry-After``, else a minute doubling up to an hour), and un-REGISTERs
(``Expires: 0``) when it is stopped: its trunk changed or went away, or the endpoint is
shutting down. :meth:`Registrations.sync` is given the wanted set and starts and stops
registrations to match.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from voxplane.errors import CallError
from voxplane.transports.sip.digest import answer_challenge
from voxplane.transports.sip.message import SipResponse
from voxplane.transports.sip.network import TransportName
from voxplane.transports.sip.outbound import resolve
from voxplane.transports.sip.register import (
    REGISTER_EXPIRES_S,
    Binding,
    granted_expires,
    min_expires,
    refresh_after,
    retry_after,
)

if TYPE_CHECKING:
    from voxplane.transports.sip.endpoint import SipEndpoint

log = logging.getLogger(__name__)

UNREGISTER_WAIT_S = 3.0
"""How long a stopping registration may take to un-REGISTER."""
ATTEMPTS = 3
"""REGISTERs per (re)registration: the first, an answer to a challenge, one more (stale
nonce, 423 Interval Too Brief)."""


@dataclass(frozen=True, slots=True)
class RegistrationTarget:
    """Register ``username`` at ``registrar`` (``host[:port]``) for ``key`` (a trunk id)."""

    key: str
    registrar: str
    username: str
    password: str = field(repr=False)
    transport: TransportName = "UDP"


class RegistrationFailed(Exception):
    def __init__(self, response: SipResponse | None, reason: str) -> None:
        super().__init__(reason)
        self.response = response


class _Registration:
    def __init__(self, endpoint: SipEndpoint, target: RegistrationTarget) -> None:
        self.endpoint = endpoint
        self.target = target
        contact = endpoint.contact(target.transport, user=target.username)
        self.binding = Binding(
            target.registrar, target.username, contact.strip("<>"), target.transport
        )
        self.stop = asyncio.Event()
        self.registered = False
        self.expires_s = 0
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        failures = 0
        extra = {"trunk_id": self.target.key}
        while not self.stop.is_set():
            try:
                self.expires_s = await self._register(REGISTER_EXPIRES_S)
            except RegistrationFailed as failure:
                failures += 1
                self.registered = False
                wait = retry_after(failure.response, failures)
                status = failure.response.status if failure.response is not None else None
                log.warning(
                    "sip registration failed",
                    extra={**extra, "sip_status": status, "error": str(failure), "retry_s": wait},
                )
            else:
                failures = 0
                self.registered = True
                wait = refresh_after(self.expires_s)
                log.info("sip registered", extra={**extra, "expires_s": self.expires_s})
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self.stop.wait()
        if self.registered:
            self.registered = False
            try:
                async with asyncio.timeout(UNREGISTER_WAIT_S):
                    await self._register(0)
                log.info("sip unregistered", extra=extra)
            except (RegistrationFailed, TimeoutError) as error:
                log.warning("sip unregistration failed", extra={**extra, "error": str(error)})

    async def _register(self, expires: int) -> int:
        """One REGISTER exchange asking for ``expires`` s; the seconds granted."""
        endpoint, target = self.endpoint, self.target
        try:
            flow = await endpoint.network.connect(
                target.transport, await resolve(target.registrar, target.transport)
            )
        except (OSError, CallError) as error:
            raise RegistrationFailed(None, f"registrar unreachable: {error}") from error
        auth: tuple[str, str] | None = None
        asked = expires
        response: SipResponse | None = None
        for _ in range(ATTEMPTS):
            headers = (*([auth] if auth else []), ("User-Agent", "voxplane"))
            via = endpoint.via(flow.transport)
            self.binding, request = self.binding.request(via=via, expires=asked, headers=headers)
            try:
                response = await endpoint.transact(flow, request)
            except CallError as error:
                raise RegistrationFailed(None, "the registrar did not answer") from error
            if 200 <= response.status < 300:
                return granted_expires(response, self.binding.contact, asked) if asked else 0
            auth = answer_challenge(
                response, request, username=target.username, password=target.password
            )
            longer = min_expires(response) if asked else None
            if longer is not None:
                asked = longer
            elif auth is None:
                break
        assert response is not None
        raise RegistrationFailed(response, f"{response.status} {response.reason}")


class Registrations:
    """The endpoint's registrations, one per target, kept up while they are wanted."""

    def __init__(self, endpoint: SipEndpoint) -> None:
        self.endpoint = endpoint
        self._running: dict[str, _Registration] = {}
        self._closed = False

    def registered(self, key: str) -> bool:
        """Whether the registration of ``key`` holds a binding now."""
        running = self._running.get(key)
        return running is not None and running.registered

    def sync(self, targets: list[RegistrationTarget]) -> None:
        """Register exactly ``targets``: start the new ones, stop (un-REGISTER) those no
        longer wanted or changed (then started again as they are now). Nothing once
        closed."""
        if self._closed:
            return
        wanted = {target.key: target for target in targets}
        for key, running in list(self._running.items()):
            if wanted.get(key) != running.target:
                running.stop.set()
                del self._running[key]
        for key, target in wanted.items():
            if key not in self._running:
                registration = _Registration(self.endpoint, target)
                registration.task = self.endpoint.spawn(registration.run())
                self._running[key] = registration

    async def aclose(self) -> None:
        """Stop every registration, each un-REGISTERing (bounded); idempotent."""
        self._closed = True
        stopping = list(self._running.values())
        self._running.clear()
        for registration in stopping:
            registration.stop.set()
        tasks = [r.task for r in stopping if r.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=UNREGISTER_WAIT_S + 1)
