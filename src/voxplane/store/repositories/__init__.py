"""Repositories: queries and staged writes on a session they are given; never a commit.

Every tenant-owned read takes ``tenant_id`` and filters on it in SQL, so a foreign id is
simply not found. Lists are keyset-paginated, newest first, with an opaque cursor
(``paging``). One module per part of the model; every repository is importable from here.
"""

from voxplane.store.repositories.agents import AgentRepo, CurrentAgent, agent_head, current_agent
from voxplane.store.repositories.calls import (
    USAGE_FIELDS,
    CallFilter,
    CallRepo,
    CallTarget,
    UsageRepo,
)
from voxplane.store.repositories.events import AuditRepo, WebhookRepo
from voxplane.store.repositories.identity import (
    ApiKeyRepo,
    InvitationRepo,
    KeyHolder,
    MembershipRepo,
    RefreshTokenRepo,
    TenantRepo,
    UserRepo,
)
from voxplane.store.repositories.paging import Page
from voxplane.store.repositories.telephony import (
    MAX_PROVIDER_CREDENTIALS,
    CredentialRepo,
    PhoneNumberRepo,
    SipTrunkRepo,
)

__all__ = [
    "MAX_PROVIDER_CREDENTIALS",
    "USAGE_FIELDS",
    "AgentRepo",
    "ApiKeyRepo",
    "AuditRepo",
    "CallFilter",
    "CallRepo",
    "CallTarget",
    "CredentialRepo",
    "CurrentAgent",
    "InvitationRepo",
    "KeyHolder",
    "MembershipRepo",
    "Page",
    "PhoneNumberRepo",
    "RefreshTokenRepo",
    "SipTrunkRepo",
    "TenantRepo",
    "UsageRepo",
    "UserRepo",
    "WebhookRepo",
    "agent_head",
    "current_agent",
]
