"""Webhook delivery: due deliveries are claimed from the database, signed, posted to the
checked address, and either marked delivered or scheduled again with exponential backoff
and jitter, until the retry window (24 h by default) closes: then they are dead, visible
in the delivery log and replayable from the API.

A delivery is claimed by pushing its ``next_attempt_at`` past the attempt's time limit,
so a sender that dies mid-attempt leaves it to be tried again, never lost. Attempts run
concurrently (bounded), each under a hard time limit, so a hanging or slow receiver holds
up only its own deliveries, never another tenant's.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from opentelemetry.trace import SpanKind
from sqlalchemy import func, select

from voxplane import __version__
from voxplane.errors import ConfigError, InvalidError
from voxplane.events.signing import SIGNATURE_HEADER, signature_header
from voxplane.events.stop import Backoff, Stop
from voxplane.events.vocabulary import Event
from voxplane.net.urlpolicy import BlockedAddress, parse_url, pin, resolve
from voxplane.observability import metrics, tracing
from voxplane.security.secretbox import Keyring, Sealed
from voxplane.store.db import Database
from voxplane.store.models import WebhookDelivery, WebhookEndpoint
from voxplane.store.types import utcnow

log = logging.getLogger("voxplane.webhooks")
ATTEMPTS_KEPT = 30
"""Attempts kept in a delivery's log (24 h of backoff capped at an hour is fewer)."""
EXCERPT_CHARS = 256


@dataclass(frozen=True)
class DeliveryOptions:
    allow_private: bool = False
    """Allow loopback and private addresses (development and tests only)."""
    timeout_s: float = 10.0
    """Everything one attempt may take: resolving, connecting, sending, reading."""
    max_response_bytes: int = 64 * 1024
    """Response bytes read at most; the rest is cut off."""
    retry_window: timedelta = timedelta(hours=24)
    backoff_base_s: float = 5.0
    backoff_max_s: float = 3600.0
    concurrency: int = 16
    per_endpoint: int = 4
    """Attempts in flight to one endpoint at most: a hanging receiver cannot take every
    slot and stall other endpoints (other tenants)."""
    idle_poll_s: float = 0.5
    """How soon a sender with nothing to claim looks again (sooner when a pending delivery
    falls due). While none is pending at all the wait doubles, up to ``idle_poll_max_s``:
    a fan-out in this process wakes it at once; deliveries fanned out by another process
    wait at most that long (that process's own sender is woken too)."""
    idle_poll_max_s: float = 2.0


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None
    duration_ms: float
    response: str

    @property
    def ok(self) -> bool:
        return self.error is None


def secret_context(tenant_id: str, endpoint_id: str) -> str:
    """Bound into a sealed webhook secret: it opens for this endpoint only."""
    return f"{tenant_id}:{endpoint_id}:webhook"


def secrets_in_force(endpoint: WebhookEndpoint, keyring: Keyring, now: datetime) -> list[str]:
    """The current secret, and the previous one while its overlap lasts."""
    context = secret_context(endpoint.tenant_id, endpoint.id)
    found = [keyring.open(Sealed(endpoint.key_id, endpoint.sealed_secret), context=context)]
    if (
        endpoint.previous_sealed_secret is not None
        and endpoint.previous_key_id is not None
        and endpoint.previous_expires_at is not None
        and endpoint.previous_expires_at > now
    ):
        previous = Sealed(endpoint.previous_key_id, endpoint.previous_sealed_secret)
        found.append(keyring.open(previous, context=context))
    return found


def backoff_s(attempt: int, options: DeliveryOptions) -> float:
    """Exponential, capped, with jitter (half to all of the step) so retries spread."""
    step = min(options.backoff_max_s, options.backoff_base_s * 2.0 ** max(0, attempt - 1))
    jitter: float = random.uniform(0.5, 1.0)  # not for security
    return step * jitter


class WebhookSender:
    """Posts due deliveries until stopped; :meth:`wake` to look at once."""

    def __init__(self, db: Database, keyring: Keyring, options: DeliveryOptions) -> None:
        self.db, self.keyring, self.options = db, keyring, options
        self.client = httpx.AsyncClient(follow_redirects=False, trust_env=False, timeout=None)
        self._wake = asyncio.Event()
        self._busy: Counter[str] = Counter()
        """Attempts in flight per endpoint."""

    def wake(self) -> None:
        self._wake.set()

    async def aclose(self) -> None:
        await self.client.aclose()

    async def run(self, stop: Stop | None = None) -> None:
        """Keep up to ``concurrency`` attempts in flight, claiming more as slots free up:
        a slow receiver holds one slot, never a batch of other tenants' deliveries. Once
        ``stop`` is requested (and :meth:`wake` called), claim no more and return when the
        attempts in flight end."""
        stop = stop or Stop()
        in_flight = 0

        async def attempt(delivery: WebhookDelivery, endpoint: WebhookEndpoint) -> None:
            nonlocal in_flight
            try:
                await self._attempt(delivery, endpoint)
            except Exception:  # one delivery's fault: it is claimed again after its lease
                log.exception("webhook attempt failed unexpectedly")
            finally:
                in_flight -= 1
                self._busy[endpoint.id] -= 1
                self._wake.set()  # a slot is free

        options = self.options
        idle = Backoff(options.idle_poll_s, max(options.idle_poll_s, options.idle_poll_max_s))
        async with asyncio.TaskGroup() as group:
            while not stop.requested:
                self._wake.clear()
                room = options.concurrency - in_flight
                claimed = await self._claim(room) if room > 0 else []
                for delivery, endpoint in claimed:
                    in_flight += 1
                    self._busy[endpoint.id] += 1
                    group.create_task(attempt(delivery, endpoint))
                if claimed and len(claimed) == room:
                    continue  # full: more may be due as soon as a slot frees
                try:
                    async with asyncio.timeout(await self._idle_s(idle)):
                        await self._wake.wait()
                except TimeoutError:
                    pass

    async def _idle_s(self, idle: Backoff) -> float:
        """Until the next delivery is due, at most the idle poll (which grows while none
        is pending)."""
        query = select(func.min(WebhookDelivery.next_attempt_at)).where(
            WebhookDelivery.status == "pending"
        )
        due = await self.db.read(lambda connection: connection.scalar(query))
        if due is None:
            return idle.next_s()
        idle.reset()
        wait = (due - utcnow()).total_seconds()
        return min(self.options.idle_poll_s, max(0.005, wait))

    async def _claim(self, limit: int) -> Sequence[tuple[WebhookDelivery, WebhookEndpoint]]:
        """Up to ``limit`` due deliveries, claimed for one attempt's time limit."""
        now = utcnow()
        lease = now + timedelta(seconds=self.options.timeout_s + 30)
        full = [e for e, n in self._busy.items() if n >= self.options.per_endpoint]
        query = (
            select(WebhookDelivery, WebhookEndpoint)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(
                WebhookDelivery.status == "pending",
                WebhookDelivery.next_attempt_at <= now,
                WebhookDelivery.endpoint_id.not_in(full),
            )
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(4 * limit)
            .with_for_update(skip_locked=True, of=WebhookDelivery)
        )
        taken: list[tuple[WebhookDelivery, WebhookEndpoint]] = []
        busy = Counter(self._busy)
        async with self.db.unit() as session:
            for delivery, endpoint in (await session.execute(query)).all():
                if len(taken) < limit and busy[endpoint.id] < self.options.per_endpoint:
                    busy[endpoint.id] += 1
                    delivery.next_attempt_at = lease  # the rest stay due, unclaimed
                    taken.append((delivery, endpoint))
        return taken

    async def _attempt(self, delivery: WebhookDelivery, endpoint: WebhookEndpoint) -> None:
        now = utcnow()
        with tracing.span(
            "webhook.deliver",
            kind=SpanKind.CLIENT,
            **{
                "voxplane.tenant_id": delivery.tenant_id,
                "voxplane.webhook_id": endpoint.id,
                "voxplane.event_id": delivery.event_id,
                "voxplane.event_type": delivery.event_type,
                "voxplane.attempt": delivery.attempt_count + 1,
            },
        ) as span:
            outcome = await self._send(delivery, endpoint, now)
            if outcome.status_code is not None:
                span.set_attribute("http.response.status_code", outcome.status_code)
            if outcome.error is not None:
                tracing.failed(span, outcome.error)
            await self._record(delivery.id, now, outcome)

    async def _send(
        self, delivery: WebhookDelivery, endpoint: WebhookEndpoint, now: datetime
    ) -> Outcome:
        if not endpoint.enabled:
            return Outcome(None, "the endpoint is disabled", 0.0, "")
        try:
            signing = secrets_in_force(endpoint, self.keyring, now)
        except ConfigError:  # its key left the keyring: fail this delivery, not the sender
            log.error("webhook secret cannot be opened", extra={"webhook_id": endpoint.id})
            return Outcome(None, "the signing secret cannot be opened (key rotated out?)", 0, "")
        return await self.post(endpoint.url, signing, _body(delivery.payload), delivery.event_id)

    async def post(self, url: str, signing: list[str], body: bytes, event_id: str) -> Outcome:
        """One signed POST to ``url`` at its checked address, under the time limit."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.options.timeout_s):
                return await self._post(url, signing, body, event_id, started)
        except TimeoutError:
            error = f"no answer within {self.options.timeout_s:g} s"
        except BlockedAddress as blocked:
            error = f"refused by the URL policy: {blocked}"
        except httpx.HTTPError as failed:
            error = f"{type(failed).__name__}: {failed}"[:EXCERPT_CHARS] or "transport error"
        except InvalidError as invalid:  # an endpoint saved under a looser policy
            error = f"refused by the URL policy: {invalid}"
        return Outcome(None, error, _ms(started), "")

    async def _post(
        self, url: str, signing: list[str], body: bytes, event_id: str, started: float
    ) -> Outcome:
        target = parse_url(url, allow_private=self.options.allow_private)
        address = await resolve(target, allow_private=self.options.allow_private)
        pinned = pin(target, address)
        timestamp = int(time.time())
        headers = {
            "Host": pinned.host_header,
            "Content-Type": "application/json",
            "User-Agent": f"voxplane-webhooks/{__version__}",
            "Webhook-Id": event_id,
            "Webhook-Timestamp": str(timestamp),
            SIGNATURE_HEADER: signature_header(signing, timestamp, body),
            **tracing.trace_headers(),
        }
        request = self.client.build_request(
            "POST", pinned.url, content=body, headers=headers, extensions=pinned.extensions
        )
        response = await self.client.send(request, stream=True)
        try:
            read = bytearray()
            async for chunk in response.aiter_raw():
                read += chunk
                if len(read) > self.options.max_response_bytes:
                    break
        finally:
            await response.aclose()
        excerpt = bytes(read[:EXCERPT_CHARS]).decode("utf-8", "replace")
        code = response.status_code
        error = None
        if 300 <= code < 400:
            error = f"HTTP {code}: redirects are not followed"
        elif not 200 <= code < 300:
            error = f"HTTP {code}"
        elif len(read) > self.options.max_response_bytes:
            excerpt += " [cut off]"
        return Outcome(code, error, _ms(started), excerpt)

    async def _record(self, delivery_id: str, at: datetime, outcome: Outcome) -> None:
        async with self.db.unit() as session:
            delivery = await session.get(WebhookDelivery, delivery_id, with_for_update=True)
            if delivery is None:  # its endpoint was deleted meanwhile
                return
            entry: dict[str, Any] = {
                "at": at.isoformat(),
                "status_code": outcome.status_code,
                "error": outcome.error,
                "duration_ms": round(outcome.duration_ms, 1),
                "response": outcome.response,
            }
            delivery.attempts = [*delivery.attempts, entry][-ATTEMPTS_KEPT:]
            delivery.attempt_count += 1
            delivery.updated_at = utcnow()
            if outcome.ok:
                delivery.status, delivery.next_attempt_at = "delivered", None
            else:
                retry_at = utcnow() + timedelta(
                    seconds=backoff_s(delivery.attempt_count, self.options)
                )
                if retry_at > delivery.first_attempt_at + self.options.retry_window:
                    delivery.status, delivery.next_attempt_at = "dead", None
                else:
                    delivery.next_attempt_at = retry_at
            result = {"pending": "retry"}.get(delivery.status, delivery.status)
        metrics.WEBHOOK_ATTEMPTS.labels(result).inc()
        metrics.WEBHOOK_LATENCY.observe(outcome.duration_ms / 1000)
        if result != "delivered":
            log.info("webhook attempt failed", extra={"delivery_id": delivery_id, "to": result})


def _body(payload: dict[str, Any]) -> bytes:
    return Event.model_validate(payload).to_json()


def _ms(started: float) -> float:
    return 1000 * (time.perf_counter() - started)
