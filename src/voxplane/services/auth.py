"""Authentication: API keys, password login, access and refresh tokens, logout.

Two kinds of bearer credential reach the API: an API key (``vxp_…``, stored as a SHA-256
digest) and a short-lived JWT access token from a login. Refresh tokens (``vxr_…``) are
single-use: each refresh spends one and issues the next of the same login session; a spent
token presented again means it was stolen, so the whole session is revoked.

Every credential is checked against its holder's state: a disabled user's tokens and keys
stop working, a key never has more rights than its member's current role, and a removed
member's keys are revoked. Verified credentials are cached in-process for ``CACHE_TTL_S`` so
that a hot API key costs no query; a revocation or a change of rights in this process drops
the entries at once, other replicas within the TTL.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from voxplane.errors import AuthError, ForbiddenError, InvalidError, NotFoundError
from voxplane.security.passwords import (
    hash_password,
    hash_password_off_loop,
    needs_rehash,
    verify_password_off_loop,
)
from voxplane.security.tokens import TokenSigner, looks_like, new_token, token_digest
from voxplane.services.principal import ROLE_PERMISSIONS, Principal, Role, lesser_role
from voxplane.services.schemas import MyTenant, TokenPair
from voxplane.store.db import Database
from voxplane.store.ids import new_id
from voxplane.store.models import Membership, RefreshToken, Tenant, User
from voxplane.store.repositories import (
    ApiKeyRepo,
    MembershipRepo,
    RefreshTokenRepo,
    TenantRepo,
    UserRepo,
)
from voxplane.store.types import utcnow

CACHE_TTL_S = 5.0
LAST_USED_EVERY_S = 60.0
"""An API key's ``last_used_at`` is written at most this often (not on every request)."""
_DUMMY_HASH = hash_password("not-a-real-password")
WRONG_PASSWORD = "wrong email or password"


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated principal and the request limits that apply to it."""

    principal: Principal
    tenant_rate: tuple[int, int]
    """(requests per minute, burst) for the whole tenant."""
    key_rate: int | None = None
    """An API key's own requests per minute, if it has one."""


@dataclass(slots=True)
class _Cached:
    caller: Caller
    until: float
    key_id: str | None = None
    last_used_write: float = float("-inf")


class AuthService:
    def __init__(
        self, db: Database, signer: TokenSigner, *, refresh_ttl_s: int, access_ttl_s: int
    ) -> None:
        self.db = db
        self.signer = signer
        self.refresh_ttl = timedelta(seconds=refresh_ttl_s)
        self.access_ttl_s = access_ttl_s
        self._cache: dict[str, _Cached] = {}
        self._verifying: dict[str, asyncio.Task[_Cached]] = {}

    # --- bearer credentials on every request ----------------------------------------

    async def authenticate(self, bearer: str, *, ip: str | None, request_id: str | None) -> Caller:
        """The caller behind an ``Authorization: Bearer`` value, or :class:`AuthError`."""
        key = token_digest(bearer)
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is None or cached.until < now:
            cached = await self._verify_once(bearer, key, cached)
        if cached.key_id is not None and now - cached.last_used_write > LAST_USED_EVERY_S:
            cached.last_used_write = now
            async with self.db.unit() as session:
                await ApiKeyRepo(session).touch(cached.key_id, utcnow())
        principal = replace(cached.caller.principal, ip=ip, request_id=request_id)
        return replace(cached.caller, principal=principal)

    async def _verify_once(self, bearer: str, key: str, previous: _Cached | None) -> _Cached:
        """Verify and cache a credential; the requests that find the same entry missing or
        stale meanwhile wait for that one verification instead of each querying (a hot key
        under load would otherwise cost a burst of queries every ``CACHE_TTL_S``)."""
        task = self._verifying.get(key)
        if task is None:
            task = asyncio.create_task(self._verify_and_cache(bearer, key, previous))
            self._verifying[key] = task
            task.add_done_callback(lambda done: self._verified(key, done))
        # shielded: a waiter that goes away does not cancel the others' verification
        return await asyncio.shield(task)

    def _verified(self, key: str, task: asyncio.Task[_Cached]) -> None:
        self._verifying.pop(key, None)
        if not task.cancelled():
            task.exception()  # retrieved here, in case every waiter went away

    async def _verify_and_cache(self, bearer: str, key: str, previous: _Cached | None) -> _Cached:
        cached = await self._verify(bearer, key)
        if previous is not None:  # re-verified: the last write still counts
            cached.last_used_write = previous.last_used_write
        self._cache[key] = cached
        self._prune(time.monotonic())
        return cached

    async def _verify(self, bearer: str, digest: str) -> _Cached:
        until = time.monotonic() + CACHE_TTL_S
        if looks_like(bearer, "vxp"):
            return await self._verify_api_key(digest, until)
        claims = self.signer.verify(bearer)
        async with self.db.unit() as session:
            revoked = await RefreshTokenRepo(session).session_revoked(claims.session_id)
            membership = await MembershipRepo(session).get(claims.tenant_id, claims.user_id)
            user = await UserRepo(session).get(claims.user_id)
            tenant = await TenantRepo(session).get(claims.tenant_id)
        if revoked or membership is None or user is None or user.disabled or tenant is None:
            raise AuthError("invalid or expired access token")
        _check_active(tenant)
        role: Role = membership.role  # type: ignore[assignment]
        principal = Principal(
            tenant.id, "user", claims.user_id, role, ROLE_PERMISSIONS[role],
            session_id=claims.session_id, user_id=claims.user_id,
        )  # fmt: skip
        # A token outlives neither its expiry nor the cache window.
        until = min(until, time.monotonic() + max(0.0, claims.expires_at - time.time()))
        return _Cached(Caller(principal, (tenant.rate_per_minute, tenant.rate_burst)), until)

    async def _verify_api_key(self, digest: str, until: float) -> _Cached:
        async with self.db.unit() as session:
            found = await ApiKeyRepo(session).holder(digest)
        if found is None or found.key.revoked_at is not None:
            raise AuthError("invalid or revoked API key")
        key, tenant = found.key, found.tenant
        role: Role = key.role  # type: ignore[assignment]
        permissions = frozenset(key.scopes)
        if key.user_id is not None:  # never more than its member can do now
            if found.member_role is None or found.member_disabled:
                raise AuthError("invalid or revoked API key")
            member_role: Role = found.member_role  # type: ignore[assignment]
            role = lesser_role(role, member_role)
            permissions &= ROLE_PERMISSIONS[member_role]
        _check_active(tenant)
        principal = Principal(tenant.id, "api_key", key.id, role, permissions, user_id=key.user_id)
        caller = Caller(principal, (tenant.rate_per_minute, tenant.rate_burst), key.rate_per_minute)
        return _Cached(caller, until, key_id=key.id)

    def forget(
        self,
        *,
        key_id: str | None = None,
        session_id: str | None = None,
        user_id: str | None = None,
    ) -> None:
        """Drop cached credentials of a revoked key, a logged-out session, or a user whose
        state changed (with the keys that act for them)."""
        for digest, entry in list(self._cache.items()):
            principal = entry.caller.principal
            if (
                (key_id is not None and entry.key_id == key_id)
                or (session_id is not None and principal.session_id == session_id)
                or (user_id is not None and principal.user_id == user_id)
            ):
                del self._cache[digest]

    def forget_tenant(self, tenant_id: str) -> None:
        for digest, entry in list(self._cache.items()):
            if entry.caller.principal.tenant_id == tenant_id:
                del self._cache[digest]

    def _prune(self, now: float) -> None:
        if len(self._cache) > 10_000:
            for digest in [d for d, e in self._cache.items() if e.until < now]:
                del self._cache[digest]

    # --- login sessions -------------------------------------------------------------

    async def check_password(self, session: AsyncSession, email: str, password: str) -> User:
        """The enabled user with this email and password, or :class:`AuthError`."""
        user = await UserRepo(session).by_email(email)
        # Hash even for an unknown email so timing does not tell which emails exist.
        stored = user.password_hash if user is not None else _DUMMY_HASH
        if not await verify_password_off_loop(stored, password) or user is None or user.disabled:
            raise AuthError(WRONG_PASSWORD)
        if needs_rehash(user.password_hash):  # hashed with older, weaker parameters
            user.password_hash = await hash_password_off_loop(password)
        return user

    async def login(self, email: str, password: str, tenant_id: str | None) -> TokenPair:
        async with self.db.unit() as session:
            user = await self.check_password(session, email, password)
            memberships = await MembershipRepo(session).of_user(user.id)
            if tenant_id is not None:
                memberships = [m for m in memberships if m.tenant_id == tenant_id]
            if not memberships:
                raise AuthError(WRONG_PASSWORD)
            if len(memberships) > 1:  # the password is right: the user may see their tenants
                mine = await _active_tenants(session, memberships, current=None)
                raise InvalidError(
                    "this user belongs to several tenants: pick one",
                    field="tenant_id",
                    choices=[(t.id, f"{t.name} ({t.role})") for t in mine],
                )
            membership = memberships[0]
            tenant = await TenantRepo(session).get(membership.tenant_id)
            assert tenant is not None
            _check_active(tenant)
            return self.sign_in(session, user.id, tenant.id, membership.role)

    async def refresh(self, refresh_token: str) -> TokenPair:
        if not looks_like(refresh_token, "vxr"):
            raise AuthError("invalid or expired refresh token")
        async with self.db.unit() as session:
            tokens = RefreshTokenRepo(session)
            row = await tokens.by_digest(token_digest(refresh_token))
            now = utcnow()
            if row is None or row.revoked_at is not None or row.expires_at <= now:
                raise AuthError("invalid or expired refresh token")
            if row.used_at is not None:
                await tokens.revoke_session(row.session_id, now)
                self.forget(session_id=row.session_id)
                reuse = True
            else:
                row.used_at = now
                membership = await MembershipRepo(session).get(row.tenant_id, row.user_id)
                user = await UserRepo(session).get(row.user_id)
                reuse = membership is None or user is None or user.disabled
            if not reuse:
                assert membership is not None
                return self._issue(
                    session, row.user_id, row.tenant_id, membership.role, row.session_id
                )
        # Outside the unit, so the revocation above is committed before we refuse.
        raise AuthError("invalid or expired refresh token")

    async def logout(self, refresh_token: str) -> None:
        """End the login session the token belongs to (idempotent, reveals nothing)."""
        if not looks_like(refresh_token, "vxr"):
            return
        async with self.db.unit() as session:
            tokens = RefreshTokenRepo(session)
            row = await tokens.by_digest(token_digest(refresh_token))
            if row is not None:
                await tokens.revoke_session(row.session_id, utcnow())
                self.forget(session_id=row.session_id)

    async def logout_session(self, who: Principal) -> None:
        """End the caller's own login session (with its access token)."""
        if who.session_id is None:
            raise ForbiddenError("only a login session can log out; revoke API keys instead")
        async with self.db.unit() as session:
            await RefreshTokenRepo(session).revoke_session(who.session_id, utcnow())
        self.forget(session_id=who.session_id)

    async def my_tenants(self, who: Principal) -> list[MyTenant]:
        """The active tenants the signed-in user is a member of, with their role in each;
        for an API key, only its own tenant (a key never tells its member's other ones)."""
        async with self.db.unit() as session:
            if who.actor_type != "user" or who.user_id is None:
                own = await TenantRepo(session).get(who.tenant_id)
                assert own is not None  # the credential was just verified against it
                return [MyTenant(id=own.id, name=own.name, role=who.role, current=True)]
            memberships = await MembershipRepo(session).of_user(who.user_id)
            return await _active_tenants(session, memberships, current=who.tenant_id)

    async def switch(self, who: Principal, tenant_id: str) -> TokenPair:
        """A new login session in another of the user's tenants; the current one ends."""
        async with self.db.unit() as session:
            user_id = who.user_id or ""
            membership = await MembershipRepo(session).get(tenant_id, user_id)
            tenant = await TenantRepo(session).get(tenant_id)
            if membership is None or tenant is None:
                raise NotFoundError("no such tenant")  # another's tenant: as one that is not
            if who.actor_type != "user" or who.session_id is None:
                raise ForbiddenError("only a login session can switch tenants")
            _check_active(tenant)
            await RefreshTokenRepo(session).revoke_session(who.session_id, utcnow())
            pair = self.sign_in(session, user_id, tenant_id, membership.role)
        self.forget(session_id=who.session_id)
        return pair

    def sign_in(self, session: AsyncSession, user_id: str, tenant_id: str, role: str) -> TokenPair:
        """Stage a new login session for a member and return its first token pair."""
        return self._issue(session, user_id, tenant_id, role, new_id("ses"))

    def _issue(
        self, session: AsyncSession, user_id: str, tenant_id: str, role: str, sid: str
    ) -> TokenPair:
        refresh = new_token("vxr")
        RefreshTokenRepo(session).add(
            RefreshToken(
                id=new_id("rft"),
                tenant_id=tenant_id,
                user_id=user_id,
                session_id=sid,
                digest=token_digest(refresh),
                expires_at=utcnow() + self.refresh_ttl,
            )
        )
        access = self.signer.issue(user_id=user_id, tenant_id=tenant_id, role=role, session_id=sid)
        return TokenPair(access_token=access, expires_in=self.access_ttl_s, refresh_token=refresh)


def _check_active(tenant: Tenant) -> None:
    if tenant.status != "active":
        raise ForbiddenError("this tenant is suspended")


async def _active_tenants(
    session: AsyncSession, memberships: Sequence[Membership], *, current: str | None
) -> list[MyTenant]:
    """The active tenants of ``memberships``, by name, with the member's role in each."""
    tenants = TenantRepo(session)
    found = []
    for membership in memberships:
        tenant = await tenants.get(membership.tenant_id)
        if tenant is not None and tenant.status == "active":
            found.append(
                MyTenant(
                    id=tenant.id,
                    name=tenant.name,
                    role=membership.role,
                    current=tenant.id == current,
                )
            )
    return sorted(found, key=lambda t: t.name)
