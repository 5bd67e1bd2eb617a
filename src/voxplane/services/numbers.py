"""Phone numbers: E.164, unique on the platform, each routed to one agent of its tenant."""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, ValidationResult, shortnumberinfo

from voxplane.errors import ConflictError, InvalidError, NotFoundError
from voxplane.events import outbox
from voxplane.events.vocabulary import Event, new_event
from voxplane.services.audit import audit
from voxplane.services.principal import Principal
from voxplane.services.schemas import (
    PageOf,
    PhoneNumberCreate,
    PhoneNumberPublic,
    PhoneNumberUpdate,
    Route,
)
from voxplane.store.db import Database
from voxplane.store.ids import new_id
from voxplane.store.models import PhoneNumber
from voxplane.store.repositories import AgentRepo, PhoneNumberRepo

_ACCEPTED = {ValidationResult.IS_POSSIBLE, ValidationResult.IS_POSSIBLE_LOCAL_ONLY}


def normalize_e164(text: str) -> str:
    """``text`` as E.164 (``+15550100``), or :class:`InvalidError` naming ``number``.

    Emergency numbers are refused: an AI agent never answers them.
    """
    if not text.startswith("+"):
        raise InvalidError("use E.164: a '+' and the country code", field="number")
    try:
        parsed = phonenumbers.parse(text, None)
    except NumberParseException as error:
        raise InvalidError("not a phone number", field="number") from error
    if phonenumbers.is_possible_number_with_reason(parsed) not in _ACCEPTED:
        raise InvalidError(
            "not a possible phone number (wrong length or country code)", field="number"
        )
    national = str(parsed.national_number)
    region = phonenumbers.region_code_for_country_code(parsed.country_code or 0)
    if region and shortnumberinfo.connects_to_emergency_number(national, region):
        raise InvalidError("emergency numbers cannot be routed to an agent", field="number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


class PhoneNumberService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, who: Principal, body: PhoneNumberCreate) -> PhoneNumberPublic:
        who.require("numbers:write")
        number = normalize_e164(body.number)
        async with self.db.unit() as session:
            repo = PhoneNumberRepo(session)
            if await repo.by_number(number) is not None:
                raise ConflictError("that number is already registered")
            await _check_agent(session, who, body.agent_id)
            row = PhoneNumber(
                id=new_id("num"),
                tenant_id=who.tenant_id,
                number=number,
                agent_id=body.agent_id,
                label=body.label,
            )
            repo.add(row)
            await session.flush()
            audit(session, who, "number.create", "phone_number", row.id, agent_id=row.agent_id)
            outbox.add(session, _number_event(row, "created"))
            return PhoneNumberPublic.model_validate(row)

    async def update(
        self, who: Principal, number_id: str, body: PhoneNumberUpdate
    ) -> PhoneNumberPublic:
        who.require("numbers:write")
        async with self.db.unit() as session:
            row = await PhoneNumberRepo(session).get(who.tenant_id, number_id)
            if row is None:
                raise NotFoundError("no such phone number")
            fields = body.model_fields_set
            if "agent_id" in fields:
                await _check_agent(session, who, body.agent_id)
                row.agent_id = body.agent_id
            if "label" in fields:
                row.label = body.label
            audit(session, who, "number.update", "phone_number", row.id, agent_id=row.agent_id)
            outbox.add(session, _number_event(row, "updated"))
            return PhoneNumberPublic.model_validate(row)

    async def get(self, who: Principal, number_id: str) -> PhoneNumberPublic:
        who.require("numbers:read")
        async with self.db.unit() as session:
            row = await PhoneNumberRepo(session).get(who.tenant_id, number_id)
            if row is None:
                raise NotFoundError("no such phone number")
            return PhoneNumberPublic.model_validate(row)

    async def list(
        self, who: Principal, cursor: str | None, limit: int, agent_id: str | None = None
    ) -> PageOf[PhoneNumberPublic]:
        who.require("numbers:read")
        async with self.db.unit() as session:
            page = await PhoneNumberRepo(session).page(who.tenant_id, cursor, limit, agent_id)
            items = [PhoneNumberPublic.model_validate(n) for n in page.items]
            return PageOf[PhoneNumberPublic](items=items, next_cursor=page.next_cursor)

    async def delete(self, who: Principal, number_id: str) -> None:
        who.require("numbers:write")
        async with self.db.unit() as session:
            repo = PhoneNumberRepo(session)
            row = await repo.get(who.tenant_id, number_id)
            if row is None:
                raise NotFoundError("no such phone number")
            await repo.remove(row)
            audit(session, who, "number.delete", "phone_number", row.id)
            outbox.add(session, _number_event(row, "released"))

    async def route(self, dialled: str) -> Route | None:
        """Where an inbound call to ``dialled`` goes (for transports), or None."""
        try:
            number = normalize_e164(dialled)
        except InvalidError:
            return None
        async with self.db.unit() as session:
            row = await PhoneNumberRepo(session).by_number(number)
            if row is None or row.agent_id is None:
                return None
            agent = await AgentRepo(session).get(row.tenant_id, row.agent_id)
            if agent is None:
                return None
            return Route(
                tenant_id=row.tenant_id,
                number=number,
                agent_id=agent.id,
                agent_version=agent.version,
            )


def _number_event(row: PhoneNumber, change: str) -> Event:
    return new_event(
        "number.updated",
        row.tenant_id,
        number_id=row.id,
        number=row.number,
        agent_id=row.agent_id,
        label=row.label,
        change=change,
    )


async def _check_agent(session: object, who: Principal, agent_id: str | None) -> None:
    if agent_id is None:
        return
    agent = await AgentRepo(session).get(who.tenant_id, agent_id)  # type: ignore[arg-type]
    if agent is None:
        raise InvalidError("no such agent", field="agent_id")
