"""WebRTC call tokens: issued for one agent, spent once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from voxplane.store.models import WebRtcToken


class CallTokenRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert(self, values: dict[str, Any]) -> None:
        await self.session.execute(insert(WebRtcToken).values(**values))

    async def spend(self, digest: str, now: datetime) -> tuple[str, str] | None:
        """Mark the unexpired, unused token with ``digest`` used, in one statement (two
        requests racing with one token: one wins); its ``(tenant_id, agent_id)``."""
        statement = (
            update(WebRtcToken)
            .where(
                WebRtcToken.digest == digest,
                WebRtcToken.used_at.is_(None),
                WebRtcToken.expires_at > now,
            )
            .values(used_at=now)
            .returning(WebRtcToken.tenant_id, WebRtcToken.agent_id)
        )
        row = (await self.session.execute(statement)).first()
        return None if row is None else (row[0], row[1])

    async def purge_before(self, before: datetime) -> int:
        result = await self.session.execute(
            delete(WebRtcToken).where(WebRtcToken.expires_at < before)
        )
        return int(getattr(result, "rowcount", 0) or 0)
