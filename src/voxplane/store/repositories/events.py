"""The audit log and webhook endpoints with their delivery log."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import (
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from voxplane.store.ids import first_id
from voxplane.store.models import (
    AuditEvent,
    WebhookDelivery,
    WebhookEndpoint,
)
from voxplane.store.repositories.paging import (
    Page,
    cursor_id,
    decode_cursor,
    encode_cursor,
    page_by_id,
)

_START = first_id("aud", 0)
"""Below every audit event: where an export without a cursor starts."""


class AuditRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, event: AuditEvent) -> None:
        self.session.add(event)

    async def page(
        self, tenant_id: str, cursor: str | None, limit: int, action: str | None = None
    ) -> Page[AuditEvent]:
        query = select(AuditEvent).where(AuditEvent.tenant_id == tenant_id)
        if action is not None:
            query = query.where(AuditEvent.action == action)
        return await page_by_id(self.session, query, AuditEvent.id, cursor, limit)

    async def since(
        self, tenant_id: str, cursor: str | None, before_id: str, limit: int
    ) -> tuple[Sequence[AuditEvent], str]:
        """Oldest first: the events after ``cursor`` (all without one) and below
        ``before_id``. The next cursor is always given: the last event's, or ``cursor``
        itself when there is none, so that a follower can keep asking with it."""
        query = select(AuditEvent).where(
            AuditEvent.tenant_id == tenant_id, AuditEvent.id < before_id
        )
        if cursor is not None:
            query = query.where(AuditEvent.id > cursor_id(decode_cursor(cursor)))
        rows = (await self.session.scalars(query.order_by(AuditEvent.id).limit(limit))).all()
        if rows:
            return rows, encode_cursor(rows[-1].id)
        return rows, cursor or encode_cursor(_START)


class WebhookRepo:
    """A tenant's webhook endpoints and their deliveries."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, tenant_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        query = select(WebhookEndpoint).where(
            WebhookEndpoint.tenant_id == tenant_id, WebhookEndpoint.id == endpoint_id
        )
        return await self.session.scalar(query)

    async def page(self, tenant_id: str, cursor: str | None, limit: int) -> Page[WebhookEndpoint]:
        query = select(WebhookEndpoint).where(WebhookEndpoint.tenant_id == tenant_id)
        return await page_by_id(self.session, query, WebhookEndpoint.id, cursor, limit)

    async def delivery(
        self, tenant_id: str, endpoint_id: str, delivery_id: str
    ) -> WebhookDelivery | None:
        query = (
            select(WebhookDelivery)
            .where(
                WebhookDelivery.tenant_id == tenant_id,
                WebhookDelivery.endpoint_id == endpoint_id,
                WebhookDelivery.id == delivery_id,
            )
            .with_for_update()
        )
        return await self.session.scalar(query)

    async def deliveries(
        self,
        tenant_id: str,
        endpoint_id: str,
        cursor: str | None,
        limit: int,
        status: str | None = None,
    ) -> Page[WebhookDelivery]:
        query = select(WebhookDelivery).where(
            WebhookDelivery.tenant_id == tenant_id, WebhookDelivery.endpoint_id == endpoint_id
        )
        if status is not None:
            query = query.where(WebhookDelivery.status == status)
        return await page_by_id(self.session, query, WebhookDelivery.id, cursor, limit)
