"""SIP trunks: which networks may send a tenant's numbers calls, and how calls go out.

Digest passwords are sealed with the keyring (AES-GCM, bound to the trunk's row) and never
returned; the SIP endpoint gets them in plain only through :meth:`SipTrunkService.match_inbound`
and :meth:`SipTrunkService.outbound`, never through an API response.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from voxplane.errors import ConfigError, ConflictError, InvalidError, NotFoundError
from voxplane.security.secretbox import Keyring, Sealed
from voxplane.services.audit import audit
from voxplane.services.numbers import normalize_e164
from voxplane.services.principal import Principal
from voxplane.services.schemas import (
    DigestAuthPublic,
    OutboundAuthPublic,
    PageOf,
    SipTrunkCreate,
    SipTrunkPublic,
    SipTrunkUpdate,
)
from voxplane.store.db import Database
from voxplane.store.ids import new_id
from voxplane.store.models import SipTrunk
from voxplane.store.repositories import SipTrunkRepo
from voxplane.store.types import utcnow

log = logging.getLogger(__name__)

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class InboundTrunk:
    """The trunk whose allowlist admitted an INVITE, and the digest its callers must answer."""

    trunk_id: str
    tenant_id: str
    name: str
    username: str | None
    password: str | None = field(repr=False)

    @property
    def requires_auth(self) -> bool:
        return self.username is not None and self.password is not None


@dataclass(frozen=True, slots=True)
class OutboundTrunk:
    """Where and how the SIP endpoint places a call through a trunk."""

    trunk_id: str
    tenant_id: str
    address: str
    """``host[:port]``: the carrier's SIP server or outbound proxy."""
    transport: str
    username: str | None
    password: str | None = field(repr=False)
    registrar: str | None = None


def _context(tenant_id: str, trunk_id: str) -> str:
    # Bound into the ciphertext: a blob copied to another row or tenant will not open.
    return f"sip_trunk:{tenant_id}:{trunk_id}"


def parse_source(source: str) -> IpAddress | None:
    """A packet's source address as an IP address (IPv4-mapped IPv6 unwrapped), or None."""
    try:
        address = ipaddress.ip_address(source.partition("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def allows(networks: list[str], source: IpAddress) -> bool:
    """Whether ``source`` lies in one of ``networks`` (CIDR strings as stored)."""
    return any(source in ipaddress.ip_network(network) for network in networks)


class SipTrunkService:
    def __init__(self, db: Database, keyring: Keyring) -> None:
        self.db = db
        self.keyring = keyring
        self.on_change: Callable[[], None] | None = None
        """Called after any trunk is created, changed or deleted (the SIP endpoint of this
        process re-reads its registrations at once; others within their sync period)."""

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    async def create(self, who: Principal, body: SipTrunkCreate) -> SipTrunkPublic:
        who.require("trunks:write")
        async with self.db.unit() as session:
            repo = SipTrunkRepo(session)
            if await repo.by_name(who.tenant_id, body.name) is not None:
                raise ConflictError(f"a SIP trunk named {body.name!r} exists")
            row = SipTrunk(id=new_id("trk"), tenant_id=who.tenant_id, name=body.name)
            self._apply(row, body, set(type(body).model_fields) - {"name"})
            repo.add(row)
            await session.flush()
            audit(session, who, "sip_trunk.create", "sip_trunk", row.id, name=row.name)
            created = self._public(row)
        self._changed()
        return created

    async def replace(self, who: Principal, trunk_id: str, body: SipTrunkCreate) -> SipTrunkPublic:
        """PUT: every field as in a create; what is left out returns to its default."""
        return await self._change(who, trunk_id, body, set(type(body).model_fields))

    async def update(self, who: Principal, trunk_id: str, body: SipTrunkUpdate) -> SipTrunkPublic:
        """PATCH: only the fields given change."""
        return await self._change(who, trunk_id, body, set(body.model_fields_set))

    async def get(self, who: Principal, trunk_id: str) -> SipTrunkPublic:
        who.require("trunks:read")
        async with self.db.unit() as session:
            row = await SipTrunkRepo(session).get(who.tenant_id, trunk_id)
            if row is None:
                raise NotFoundError("no such SIP trunk")
            return self._public(row)

    async def list(self, who: Principal, cursor: str | None, limit: int) -> PageOf[SipTrunkPublic]:
        who.require("trunks:read")
        async with self.db.unit() as session:
            page = await SipTrunkRepo(session).page(who.tenant_id, cursor, limit)
            items = [self._public(row) for row in page.items]
            return PageOf[SipTrunkPublic](items=items, next_cursor=page.next_cursor)

    async def delete(self, who: Principal, trunk_id: str) -> None:
        who.require("trunks:write")
        async with self.db.unit() as session:
            repo = SipTrunkRepo(session)
            row = await repo.get(who.tenant_id, trunk_id)
            if row is None:
                raise NotFoundError("no such SIP trunk")
            await repo.remove(row)
            audit(session, who, "sip_trunk.delete", "sip_trunk", row.id, name=row.name)
        self._changed()

    async def match_inbound(self, dialled: str, source: str) -> InboundTrunk | None:
        """For the SIP ingress: the trunk of the tenant owning ``dialled`` whose allowlist
        holds ``source`` (an IP address as the socket reports it), with its inbound digest
        credentials; None when no trunk of that tenant allows the address.

        Raises :class:`NotFoundError` when ``dialled`` is not a registered number.
        """
        try:
            number = normalize_e164(dialled)
        except InvalidError as error:
            raise NotFoundError("no such number") from error
        address = parse_source(source)
        async with self.db.unit() as session:
            tenant_id, trunks = await SipTrunkRepo(session).of_number(number)
            if tenant_id is None:
                raise NotFoundError("no such number")
            if address is None:
                return None
            for row in trunks:
                if allows(row.inbound_addresses, address):
                    password = self._passwords(row).get("inbound")
                    return InboundTrunk(row.id, tenant_id, row.name, row.inbound_username, password)
        return None

    async def outbound(self, tenant_id: str, trunk_id: str) -> OutboundTrunk:
        """For placing a call: the trunk's destination and credentials (plain)."""
        async with self.db.unit() as session:
            row = await SipTrunkRepo(session).get(tenant_id, trunk_id)
            if row is None:
                raise InvalidError("no such SIP trunk", field="trunk_id")
            if row.outbound_address is None:
                raise InvalidError("this trunk has no outbound_address", field="trunk_id")
            password = self._passwords(row).get("outbound")
            return OutboundTrunk(
                row.id,
                tenant_id,
                row.outbound_address,
                row.outbound_transport,
                row.outbound_username,
                password,
                row.registrar,
            )

    async def registrations(self) -> tuple[OutboundTrunk, ...]:
        """For the SIP endpoint: every trunk, of every tenant, that registers with a
        registrar (``outbound_auth.registrar``), with its credentials in plain."""
        async with self.db.unit() as session:
            rows = await SipTrunkRepo(session).registering()
            trunks = []
            for row in rows:
                try:
                    password = self._passwords(row).get("outbound")
                except ConfigError as error:  # one trunk's sealed secret must not stop the rest
                    log.error(
                        "trunk registration skipped: its credentials cannot be opened",
                        extra={"trunk_id": row.id, "tenant_id": row.tenant_id, "error": str(error)},
                    )
                    continue
                if row.outbound_username is None or password is None:
                    continue
                trunks.append(
                    OutboundTrunk(
                        row.id,
                        row.tenant_id,
                        row.outbound_address or row.registrar or "",
                        row.outbound_transport,
                        row.outbound_username,
                        password,
                        row.registrar,
                    )
                )
            return tuple(trunks)

    async def _change(
        self,
        who: Principal,
        trunk_id: str,
        body: SipTrunkCreate | SipTrunkUpdate,
        fields: set[str],
    ) -> SipTrunkPublic:
        who.require("trunks:write")
        async with self.db.unit() as session:
            repo = SipTrunkRepo(session)
            row = await repo.get(who.tenant_id, trunk_id)
            if row is None:
                raise NotFoundError("no such SIP trunk")
            if "name" in fields and body.name is not None and body.name != row.name:
                if await repo.by_name(who.tenant_id, body.name) is not None:
                    raise ConflictError(f"a SIP trunk named {body.name!r} exists")
                row.name = body.name
            self._apply(row, body, fields - {"name"})
            row.updated_at = utcnow()
            audit(session, who, "sip_trunk.update", "sip_trunk", row.id, name=row.name)
            changed = self._public(row)
        self._changed()
        return changed

    def _apply(
        self, row: SipTrunk, body: SipTrunkCreate | SipTrunkUpdate, fields: set[str]
    ) -> None:
        """Copy ``fields`` of ``body`` onto ``row``, resealing the passwords if one changed."""
        passwords = self._passwords(row)
        if "inbound_addresses" in fields:
            row.inbound_addresses = list(body.inbound_addresses or [])
        if "inbound_auth" in fields:
            auth = body.inbound_auth
            row.inbound_username = auth.username if auth else None
            passwords["inbound"] = auth.password.get_secret_value() if auth else None
        if "outbound_address" in fields:
            row.outbound_address = body.outbound_address
        if "outbound_transport" in fields and body.outbound_transport is not None:
            row.outbound_transport = body.outbound_transport
        elif row.outbound_transport is None:
            row.outbound_transport = "udp"
        if "outbound_auth" in fields:
            out = body.outbound_auth
            row.outbound_username = out.username if out else None
            row.registrar = out.registrar if out else None
            passwords["outbound"] = out.password.get_secret_value() if out else None
        _check_open_networks(row)
        self._seal(row, passwords)

    def _passwords(self, row: SipTrunk) -> dict[str, str | None]:
        if row.sealed is None or row.key_id is None:
            return {}
        sealed = Sealed(key_id=row.key_id, blob=row.sealed)
        opened: dict[str, str | None] = json.loads(
            self.keyring.open(sealed, context=_context(row.tenant_id, row.id))
        )
        return opened

    def _seal(self, row: SipTrunk, passwords: dict[str, str | None]) -> None:
        kept = {kind: value for kind, value in passwords.items() if value is not None}
        if not kept:
            row.key_id, row.sealed = None, None
            return
        sealed = self.keyring.seal(json.dumps(kept), context=_context(row.tenant_id, row.id))
        row.key_id, row.sealed = sealed.key_id, sealed.blob

    def _public(self, row: SipTrunk) -> SipTrunkPublic:
        inbound = outbound = None
        if row.inbound_username is not None:
            inbound = DigestAuthPublic(username=row.inbound_username)
        if row.outbound_username is not None:
            outbound = OutboundAuthPublic(username=row.outbound_username, registrar=row.registrar)
        return SipTrunkPublic(
            id=row.id,
            name=row.name,
            inbound_addresses=list(row.inbound_addresses),
            inbound_auth=inbound,
            outbound_address=row.outbound_address,
            outbound_transport=row.outbound_transport,
            outbound_auth=outbound,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


def _check_open_networks(row: SipTrunk) -> None:
    """A network that admits every address (``0.0.0.0/0``) needs inbound digest auth."""
    wide_open = any(ipaddress.ip_network(n).prefixlen == 0 for n in row.inbound_addresses)
    if wide_open and row.inbound_username is None:
        raise InvalidError(
            "0.0.0.0/0 or ::/0 admits anyone: set inbound_auth as well",
            field="inbound_addresses",
        )
