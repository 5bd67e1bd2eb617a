"""Publishable keys: a web page's key for one agent, from allowed origins."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from voxplane.store.models import PublishableKey
from voxplane.store.repositories.paging import Page, page_by_id


class PublishableKeyRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, key: PublishableKey) -> None:
        self.session.add(key)

    async def get(self, tenant_id: str, key_id: str) -> PublishableKey | None:
        return await self.session.scalar(
            select(PublishableKey).where(
                PublishableKey.tenant_id == tenant_id, PublishableKey.id == key_id
            )
        )

    async def by_digest(self, digest: str) -> PublishableKey | None:
        return await self.session.scalar(
            select(PublishableKey).where(PublishableKey.digest == digest)
        )

    async def page(self, tenant_id: str, cursor: str | None, limit: int) -> Page[PublishableKey]:
        query = select(PublishableKey).where(PublishableKey.tenant_id == tenant_id)
        return await page_by_id(self.session, query, PublishableKey.id, cursor, limit)
