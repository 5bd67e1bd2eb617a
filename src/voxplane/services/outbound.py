"""Outbound calls placed through the API: checked here, dialled by the runtime.

The control plane never touches media: :class:`OutboundDialer` is the interface the call
runtime implements (over SIP) and the composition root (``voxplane serve``) plugs into
:attr:`OutboundCallService.dialer`. Without one (SIP turned off) placing a call is a 503.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from voxplane.errors import InvalidError, UnavailableError
from voxplane.services.audit import audit
from voxplane.services.numbers import normalize_e164
from voxplane.services.principal import Principal
from voxplane.services.schemas import OutboundCallCreate, OutboundCallPublic, Route
from voxplane.services.trunks import OutboundTrunk, SipTrunkService
from voxplane.store.db import Database
from voxplane.store.repositories import AgentRepo, PhoneNumberRepo


@dataclass(frozen=True, slots=True)
class OutboundDial:
    """A checked request to place one call."""

    route: Route
    """The tenant, the agent (current version) and the calling number."""
    to_number: str
    trunk: OutboundTrunk


class OutboundDialer(ABC):
    """Places calls and runs their agent once answered (implemented by the runtime)."""

    @abstractmethod
    async def dial(self, request: OutboundDial) -> str:
        """Admit and start dialling; the call's id. Raises a ``ControlError`` when the
        call cannot be admitted (429 the tenant's call slots are busy, 503 draining)."""


class OutboundCallService:
    def __init__(self, db: Database, trunks: SipTrunkService) -> None:
        self.db = db
        self.trunks = trunks
        self.dialer: OutboundDialer | None = None

    async def place(self, who: Principal, body: OutboundCallCreate) -> OutboundCallPublic:
        who.require("calls:write")
        to = _number(body.to, "to")  # emergency numbers are refused here, as for routing
        caller = _number(body.from_, "from")
        async with self.db.unit() as session:
            agent = await AgentRepo(session).get(who.tenant_id, body.agent_id)
            if agent is None:
                raise InvalidError("no such agent", field="agent_id")
            owned = await PhoneNumberRepo(session).by_number(caller)
            if owned is None or owned.tenant_id != who.tenant_id:
                raise InvalidError("call from one of your own numbers", field="from")
            route = Route(
                tenant_id=who.tenant_id,
                number=caller,
                agent_id=agent.id,
                agent_version=agent.version,
            )
        trunk = await self.trunks.outbound(who.tenant_id, body.trunk_id)
        if self.dialer is None:
            raise UnavailableError("outbound calling is off on this server (no SIP endpoint)")
        call_id = await self.dialer.dial(OutboundDial(route, to, trunk))
        async with self.db.unit() as session:  # placing a call spends money: audited
            audit(
                session,
                who,
                "call.place",
                "call",
                call_id,
                agent_id=agent.id,
                trunk_id=trunk.trunk_id,
            )
        return OutboundCallPublic(id=call_id)


def _number(text: str, field: str) -> str:
    try:
        return normalize_e164(text)
    except InvalidError as error:
        raise InvalidError(error.message, field=field) from error
