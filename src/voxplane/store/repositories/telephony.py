"""Phone numbers, SIP trunks and sealed provider credentials."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import (
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from voxplane.store.models import (
    Credential,
    PhoneNumber,
    SipTrunk,
)
from voxplane.store.repositories.paging import (
    Page,
    page_by_id,
)


class PhoneNumberRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, tenant_id: str, number_id: str) -> PhoneNumber | None:
        return await self.session.scalar(
            select(PhoneNumber).where(
                PhoneNumber.tenant_id == tenant_id, PhoneNumber.id == number_id
            )
        )

    async def by_number(self, number: str) -> PhoneNumber | None:
        """Platform-wide: the route for an inbound call to ``number``."""
        return await self.session.scalar(select(PhoneNumber).where(PhoneNumber.number == number))

    async def page(
        self, tenant_id: str, cursor: str | None, limit: int, agent_id: str | None = None
    ) -> Page[PhoneNumber]:
        query = select(PhoneNumber).where(PhoneNumber.tenant_id == tenant_id)
        if agent_id is not None:
            query = query.where(PhoneNumber.agent_id == agent_id)
        return await page_by_id(self.session, query, PhoneNumber.id, cursor, limit)

    async def unassign_agent(self, tenant_id: str, agent_id: str) -> None:
        await self.session.execute(
            update(PhoneNumber)
            .where(PhoneNumber.tenant_id == tenant_id, PhoneNumber.agent_id == agent_id)
            .values(agent_id=None)
        )

    def add(self, row: PhoneNumber) -> None:
        self.session.add(row)

    async def remove(self, row: PhoneNumber) -> None:
        await self.session.delete(row)


MAX_PROVIDER_CREDENTIALS = 20
"""A tenant's credentials of one provider tried in turn (e.g. one per Twilio account)."""


class CredentialRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, tenant_id: str, credential_id: str) -> Credential | None:
        return await self.session.scalar(
            select(Credential).where(
                Credential.tenant_id == tenant_id, Credential.id == credential_id
            )
        )

    async def by_name(self, tenant_id: str, name: str) -> Credential | None:
        return await self.session.scalar(
            select(Credential).where(Credential.tenant_id == tenant_id, Credential.name == name)
        )

    async def of_provider(self, tenant_id: str, provider: str) -> Sequence[Credential]:
        query = select(Credential).where(
            Credential.tenant_id == tenant_id, Credential.provider == provider
        )
        return (await self.session.scalars(query.limit(MAX_PROVIDER_CREDENTIALS))).all()

    async def page(self, tenant_id: str, cursor: str | None, limit: int) -> Page[Credential]:
        query = select(Credential).where(Credential.tenant_id == tenant_id)
        return await page_by_id(self.session, query, Credential.id, cursor, limit)

    def add(self, row: Credential) -> None:
        self.session.add(row)

    async def remove(self, row: Credential) -> None:
        await self.session.delete(row)


class SipTrunkRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, tenant_id: str, trunk_id: str) -> SipTrunk | None:
        return await self.session.scalar(
            select(SipTrunk).where(SipTrunk.tenant_id == tenant_id, SipTrunk.id == trunk_id)
        )

    async def by_name(self, tenant_id: str, name: str) -> SipTrunk | None:
        return await self.session.scalar(
            select(SipTrunk).where(SipTrunk.tenant_id == tenant_id, SipTrunk.name == name)
        )

    async def of_number(self, number: str) -> tuple[str | None, Sequence[SipTrunk]]:
        """The tenant owning ``number`` (platform-wide) and its trunks, oldest first."""
        tenant_id = await self.session.scalar(
            select(PhoneNumber.tenant_id).where(PhoneNumber.number == number)
        )
        if tenant_id is None:
            return None, ()
        query = select(SipTrunk).where(SipTrunk.tenant_id == tenant_id).order_by(SipTrunk.id)
        return tenant_id, (await self.session.scalars(query)).all()

    async def registering(self) -> Sequence[SipTrunk]:
        """Every tenant's trunks that register with a registrar (for the SIP endpoint)."""
        query = select(SipTrunk).where(SipTrunk.registrar.is_not(None)).order_by(SipTrunk.id)
        return (await self.session.scalars(query)).all()

    async def page(self, tenant_id: str, cursor: str | None, limit: int) -> Page[SipTrunk]:
        query = select(SipTrunk).where(SipTrunk.tenant_id == tenant_id)
        return await page_by_id(self.session, query, SipTrunk.id, cursor, limit)

    def add(self, row: SipTrunk) -> None:
        self.session.add(row)

    async def remove(self, row: SipTrunk) -> None:
        await self.session.delete(row)
