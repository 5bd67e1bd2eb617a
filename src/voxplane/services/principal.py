"""Who is asking: the authenticated principal, roles and the permissions they grant."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from voxplane.errors import ForbiddenError

Role = Literal["owner", "admin", "developer", "viewer"]
ROLES: tuple[Role, ...] = ("owner", "admin", "developer", "viewer")
ActorType = Literal["user", "api_key", "publishable_key", "platform", "system"]

READ = frozenset(
    {
        "agents:read",
        "numbers:read",
        "trunks:read",
        "calls:read",
        "usage:read",
        "credentials:read",
        "tenant:read",
        "webhooks:read",
    }
)
BUILD = frozenset(
    {
        "agents:write",
        "numbers:write",
        "trunks:write",
        "credentials:write",
        "calls:write",
        "keys:read",
        "webhooks:write",
    }
)
MANAGE = frozenset({"keys:write", "members:read", "members:write", "audit:read"})
ALL_PERMISSIONS = READ | BUILD | MANAGE | {"tenant:write"}

ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    "viewer": READ,
    "developer": READ | BUILD,
    "admin": READ | BUILD | MANAGE,
    "owner": ALL_PERMISSIONS,
}


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of a service: a user (JWT), an API key, the platform admin or the system.

    ``permissions`` is what it may do: a user's role, or an API key's scopes (never more
    than the current role of the member the key acts for).
    """

    tenant_id: str
    actor_type: ActorType
    actor_id: str | None
    role: Role
    permissions: frozenset[str]
    ip: str | None = None
    request_id: str | None = None
    session_id: str | None = field(default=None, compare=False)
    user_id: str | None = field(default=None, compare=False)
    """The user it acts for: the user themself, or the member an API key acts for."""

    def require(self, permission: str) -> None:
        if permission not in self.permissions:
            raise ForbiddenError(f"this credential lacks the {permission!r} permission")


def lesser_role(a: Role, b: Role) -> Role:
    """The role with fewer rights of the two."""
    return max(a, b, key=ROLES.index)


def system_principal(tenant_id: str, *, role: Role = "owner") -> Principal:
    """The platform itself acting for a tenant (admin CLI, bootstrap)."""
    return Principal(tenant_id, "system", None, role, ROLE_PERMISSIONS[role])


RUNTIME_PERMISSIONS = frozenset({"agents:read", "calls:write"})


def runtime_principal(tenant_id: str) -> Principal:
    """The call runtime acting for the tenant a dialled number routed to: it may read that
    tenant's agents and record its calls, nothing more."""
    return Principal(tenant_id, "system", "runtime", "developer", RUNTIME_PERMISSIONS)
