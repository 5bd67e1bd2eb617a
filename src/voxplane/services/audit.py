"""The audit log: every mutation, who made it, when and from where. Append-only."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from voxplane.services.principal import Principal
from voxplane.services.schemas import AuditEventPublic, PageOf
from voxplane.store.db import Database
from voxplane.store.ids import first_id, new_id
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


EXPORT_MAX_LINES = 1000
"""The most events one export response holds; a follower asks again with the cursor."""


class AuditService:
    def __init__(self, db: Database, *, export_delay_s: float = 5.0) -> None:
        self.db = db
        self.export_delay_s = export_delay_s

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

    async def export(self, who: Principal, cursor: str | None, limit: int) -> AuditExport:
        """Events after ``cursor``, oldest first, for a SIEM that follows the log.

        Ids are made when a change is staged, not when it commits, so a slow transaction
        can commit an event older than one already exported. Events younger than
        ``export_delay_s`` are therefore held back until any such write has committed.
        """
        who.require("audit:read")
        now_ms = time.time_ns() // 1_000_000
        before = first_id("aud", now_ms - round(1000 * self.export_delay_s))
        async with self.db.unit() as session:
            rows, next_cursor = await AuditRepo(session).since(who.tenant_id, cursor, before, limit)
            return AuditExport([AuditEventPublic.model_validate(e) for e in rows], next_cursor)


@dataclass(frozen=True, slots=True)
class AuditExport:
    """One export response: the events, and the cursor to ask for the ones after them."""

    events: list[AuditEventPublic]
    next_cursor: str
    """Where the next export starts; the same cursor again when nothing was new."""
