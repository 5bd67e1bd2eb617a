"""Webhook endpoints: where a tenant's events go, and the log of what was delivered.

The signing secret is generated here, shown once (on create and on rotation) and kept
sealed. Rotation keeps the previous secret signing for an overlap, so receivers can switch
without missing a beat. URLs are checked against the SSRF policy when saved; the sender
checks again, after DNS resolution, before every attempt.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from voxplane.errors import InvalidError, NotFoundError
from voxplane.events.delivery import secret_context
from voxplane.events.signing import new_secret
from voxplane.events.vocabulary import EVENT_TYPES
from voxplane.events.webhooks import ALL_EVENTS
from voxplane.net.urlpolicy import parse_url
from voxplane.security.secretbox import Keyring
from voxplane.services.audit import audit
from voxplane.services.principal import Principal
from voxplane.services.schemas import (
    PageOf,
    WebhookCreate,
    WebhookCreated,
    WebhookDeliveryPublic,
    WebhookPublic,
    WebhookRotate,
    WebhookUpdate,
)
from voxplane.store.db import Database
from voxplane.store.ids import new_id
from voxplane.store.models import WebhookEndpoint
from voxplane.store.repositories import WebhookRepo
from voxplane.store.types import utcnow


class WebhookService:
    def __init__(self, db: Database, keyring: Keyring, *, allow_private: bool) -> None:
        self.db, self.keyring, self.allow_private = db, keyring, allow_private

    async def create(self, who: Principal, body: WebhookCreate) -> WebhookCreated:
        who.require("webhooks:write")
        parse_url(body.url, allow_private=self.allow_private)
        endpoint = WebhookEndpoint(
            id=new_id("whk"),
            tenant_id=who.tenant_id,
            url=body.url,
            events=_filters(body.events),
            description=body.description,
            enabled=body.enabled,
        )
        secret = self._seal_new(endpoint)
        async with self.db.unit() as session:
            session.add(endpoint)
            await session.flush()
            audit(session, who, "webhook.create", "webhook", endpoint.id, url=endpoint.url)
            public = WebhookPublic.model_validate(endpoint)
        return WebhookCreated(**public.model_dump(), secret=secret)

    async def get(self, who: Principal, webhook_id: str) -> WebhookPublic:
        who.require("webhooks:read")
        async with self.db.unit() as session:
            return WebhookPublic.model_validate(await _endpoint(session, who, webhook_id))

    async def list(self, who: Principal, cursor: str | None, limit: int) -> PageOf[WebhookPublic]:
        who.require("webhooks:read")
        async with self.db.unit() as session:
            page = await WebhookRepo(session).page(who.tenant_id, cursor, limit)
            items = [WebhookPublic.model_validate(e) for e in page.items]
            return PageOf[WebhookPublic](items=items, next_cursor=page.next_cursor)

    async def update(self, who: Principal, webhook_id: str, body: WebhookUpdate) -> WebhookPublic:
        who.require("webhooks:write")
        fields = body.model_fields_set
        if "url" in fields and body.url is not None:
            parse_url(body.url, allow_private=self.allow_private)
        async with self.db.unit() as session:
            endpoint = await _endpoint(session, who, webhook_id)
            if body.url is not None:
                endpoint.url = body.url
            if body.events is not None:
                endpoint.events = _filters(body.events)
            if "description" in fields:
                endpoint.description = body.description
            if body.enabled is not None:
                endpoint.enabled = body.enabled
            endpoint.updated_at = utcnow()
            audit(session, who, "webhook.update", "webhook", endpoint.id, url=endpoint.url)
            return WebhookPublic.model_validate(endpoint)

    async def delete(self, who: Principal, webhook_id: str) -> None:
        who.require("webhooks:write")
        async with self.db.unit() as session:
            endpoint = await _endpoint(session, who, webhook_id)
            await session.delete(endpoint)
            audit(session, who, "webhook.delete", "webhook", endpoint.id)

    async def rotate(self, who: Principal, webhook_id: str, body: WebhookRotate) -> WebhookCreated:
        """A new secret, returned once; the old one keeps signing for ``overlap_s``."""
        who.require("webhooks:write")
        async with self.db.unit() as session:
            endpoint = await _endpoint(session, who, webhook_id)
            endpoint.previous_key_id = endpoint.key_id
            endpoint.previous_sealed_secret = endpoint.sealed_secret
            endpoint.previous_expires_at = utcnow() + timedelta(seconds=body.overlap_s)
            secret = self._seal_new(endpoint)
            endpoint.updated_at = utcnow()
            audit(session, who, "webhook.rotate", "webhook", endpoint.id, overlap_s=body.overlap_s)
            public = WebhookPublic.model_validate(endpoint)
        return WebhookCreated(**public.model_dump(), secret=secret)

    async def deliveries(
        self, who: Principal, webhook_id: str, cursor: str | None, limit: int, status: str | None
    ) -> PageOf[WebhookDeliveryPublic]:
        who.require("webhooks:read")
        async with self.db.unit() as session:
            await _endpoint(session, who, webhook_id)
            page = await WebhookRepo(session).deliveries(
                who.tenant_id, webhook_id, cursor, limit, status
            )
            items = [WebhookDeliveryPublic.model_validate(d) for d in page.items]
            return PageOf[WebhookDeliveryPublic](items=items, next_cursor=page.next_cursor)

    async def replay(
        self, who: Principal, webhook_id: str, delivery_id: str
    ) -> WebhookDeliveryPublic:
        """Send a delivery again, now, with a fresh retry window (dead or delivered alike)."""
        who.require("webhooks:write")
        async with self.db.unit() as session:
            await _endpoint(session, who, webhook_id)
            delivery = await WebhookRepo(session).delivery(who.tenant_id, webhook_id, delivery_id)
            if delivery is None:
                raise NotFoundError("no such delivery")
            now = utcnow()
            delivery.status = "pending"
            delivery.next_attempt_at = delivery.first_attempt_at = delivery.updated_at = now
            audit(session, who, "webhook.replay", "webhook", webhook_id, delivery_id=delivery_id)
            return WebhookDeliveryPublic.model_validate(delivery)

    def _seal_new(self, endpoint: WebhookEndpoint) -> str:
        secret = new_secret()
        sealed = self.keyring.seal(secret, context=secret_context(endpoint.tenant_id, endpoint.id))
        endpoint.key_id, endpoint.sealed_secret = sealed.key_id, sealed.blob
        return secret


def _filters(events: list[str]) -> list[str]:
    unknown = sorted(set(events) - EVENT_TYPES - {ALL_EVENTS})
    if unknown:
        raise InvalidError(f"unknown event type {unknown[0]!r}", field="events")
    return sorted(set(events))


async def _endpoint(session: AsyncSession, who: Principal, webhook_id: str) -> WebhookEndpoint:
    endpoint = await WebhookRepo(session).get(who.tenant_id, webhook_id)
    if endpoint is None:
        raise NotFoundError("no such webhook")
    return endpoint
