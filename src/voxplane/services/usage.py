"""Usage per tenant per day, and its CSV export for billing."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from voxplane.errors import InvalidError
from voxplane.services.principal import Principal
from voxplane.services.schemas import UsageDayPublic
from voxplane.store.db import Database
from voxplane.store.repositories import USAGE_FIELDS, UsageRepo

MAX_DAYS = 366


class UsageService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def days(self, who: Principal, start: date, end: date) -> list[UsageDayPublic]:
        who.require("usage:read")
        if end < start:
            raise InvalidError("'to' is before 'from'", field="to")
        if end - start > timedelta(days=MAX_DAYS):
            raise InvalidError(f"at most {MAX_DAYS} days at a time", field="to")
        async with self.db.unit() as session:
            rows = await UsageRepo(session).between(who.tenant_id, start, end)
            return [UsageDayPublic.model_validate(r) for r in rows]

    async def csv(self, who: Principal, start: date, end: date) -> str:
        rows = await self.days(who, start, end)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["tenant_id", "day", *USAGE_FIELDS])
        for row in rows:
            values = row.model_dump()
            writer.writerow(
                [who.tenant_id, row.day.isoformat(), *(values[f] for f in USAGE_FIELDS)]
            )
        return out.getvalue()
