"""The audit log: every mutation, who made it, when and from where. Append-only."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from voxplane.services.principal import Principal
from voxplane.services.schemas import AuditEventPublic, PageOf
from voxplane.store.db import Database
from voxplane.store.ids import new_id
from voxplane.store.models import AuditEvent
from voxplane.store.repositories import AuditRepo


def audit(
    session: AsyncSession,
    who: Principal,
    action: str,
    target_type: str,
    target_id: str | None,
    **details: Any,
) -> None:
    """Stage an audit event in the same unit as the change it describes.

    ``details`` hold names and ids, never secrets or caller content.
    """
    AuditRepo(session).add(
        AuditEvent(
            id=new_id("aud"),
            tenant_id=who.tenant_id,
            actor_type=who.actor_type,
            actor_id=who.actor_id,
            action=action,
            target_type=target_type,
            target_id=target_id,
            ip=who.ip,
            request_id=who.request_id,
            details=details,
        )
    )


class AuditService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def list(
        self, who: Principal, cursor: str | None, limit: int, action: str | None = None
    ) -> PageOf[AuditEventPublic]:
        who.require("audit:read")
        async with self.db.unit() as session:
            page = await AuditRepo(session).page(who.tenant_id, cursor, limit, action)
            return PageOf[AuditEventPublic](
                items=[AuditEventPublic.model_validate(e) for e in page.items],
                next_cursor=page.next_cursor,
            )
