"""Provider credentials: sealed with AES-GCM at rest, only ever shown masked."""

from __future__ import annotations

import builtins

from voxplane.errors import ConflictError, NotFoundError
from voxplane.security.secretbox import Keyring, Sealed, mask_secret
from voxplane.services.audit import audit
from voxplane.services.principal import Principal
from voxplane.services.schemas import (
    CredentialCreate,
    CredentialPublic,
    CredentialUpdate,
    PageOf,
)
from voxplane.store.db import Database
from voxplane.store.ids import new_id
from voxplane.store.models import Credential
from voxplane.store.repositories import CredentialRepo
from voxplane.store.types import utcnow


def _context(tenant_id: str, credential_id: str) -> str:
    # Bound into the ciphertext: a blob copied to another row or tenant will not open.
    return f"{tenant_id}:{credential_id}"


class CredentialService:
    def __init__(self, db: Database, keyring: Keyring) -> None:
        self.db = db
        self.keyring = keyring

    async def create(self, who: Principal, body: CredentialCreate) -> CredentialPublic:
        who.require("credentials:write")
        secret = body.secret.get_secret_value()
        async with self.db.unit() as session:
            repo = CredentialRepo(session)
            if await repo.by_name(who.tenant_id, body.name) is not None:
                raise ConflictError(f"a credential named {body.name!r} exists")
            row = Credential(
                id=new_id("crd"),
                tenant_id=who.tenant_id,
                name=body.name,
                provider=body.provider,
            )
            self._seal(row, secret)
            repo.add(row)
            await session.flush()
            audit(session, who, "credential.create", "credential", row.id, name=row.name)
            return CredentialPublic.model_validate(row)

    async def rotate(
        self, who: Principal, credential_id: str, body: CredentialUpdate
    ) -> CredentialPublic:
        who.require("credentials:write")
        async with self.db.unit() as session:
            row = await CredentialRepo(session).get(who.tenant_id, credential_id)
            if row is None:
                raise NotFoundError("no such credential")
            self._seal(row, body.secret.get_secret_value())
            row.updated_at = utcnow()
            audit(session, who, "credential.update", "credential", row.id, name=row.name)
            return CredentialPublic.model_validate(row)

    async def get(self, who: Principal, credential_id: str) -> CredentialPublic:
        who.require("credentials:read")
        async with self.db.unit() as session:
            row = await CredentialRepo(session).get(who.tenant_id, credential_id)
            if row is None:
                raise NotFoundError("no such credential")
            return CredentialPublic.model_validate(row)

    async def list(
        self, who: Principal, cursor: str | None, limit: int
    ) -> PageOf[CredentialPublic]:
        who.require("credentials:read")
        async with self.db.unit() as session:
            page = await CredentialRepo(session).page(who.tenant_id, cursor, limit)
            items = [CredentialPublic.model_validate(c) for c in page.items]
            return PageOf[CredentialPublic](items=items, next_cursor=page.next_cursor)

    async def delete(self, who: Principal, credential_id: str) -> None:
        who.require("credentials:write")
        async with self.db.unit() as session:
            repo = CredentialRepo(session)
            row = await repo.get(who.tenant_id, credential_id)
            if row is None:
                raise NotFoundError("no such credential")
            await repo.remove(row)
            audit(session, who, "credential.delete", "credential", row.id, name=row.name)

    async def reveal(self, tenant_id: str, name: str) -> str:
        """The plaintext, for the runtime building a provider; never for an API response."""
        async with self.db.unit() as session:
            row = await CredentialRepo(session).by_name(tenant_id, name)
            if row is None:
                raise NotFoundError("no such credential")
            sealed = Sealed(key_id=row.key_id, blob=row.sealed)
            return self.keyring.open(sealed, context=_context(row.tenant_id, row.id))

    async def reveal_provider(self, tenant_id: str, provider: str) -> builtins.list[str]:
        """The plaintexts of every credential of ``provider`` (e.g. the auth tokens of each
        of a tenant's Twilio accounts), for the runtime checking a carrier's signature."""
        async with self.db.unit() as session:
            rows = await CredentialRepo(session).of_provider(tenant_id, provider)
            return [
                self.keyring.open(
                    Sealed(key_id=row.key_id, blob=row.sealed),
                    context=_context(row.tenant_id, row.id),
                )
                for row in rows
            ]

    def _seal(self, row: Credential, secret: str) -> None:
        sealed = self.keyring.seal(secret, context=_context(row.tenant_id, row.id))
        row.key_id = sealed.key_id
        row.sealed = sealed.blob
        row.masked = mask_secret(secret)
