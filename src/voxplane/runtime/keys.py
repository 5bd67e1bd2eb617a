"""The keys of an agent's cloud providers, found before its providers are built.

``voxplane talk`` reads them from the agent file (``api_key``) or the environment
(``api_key_env``); ``voxplane serve`` from the tenant's encrypted credentials: the one
named by ``credential``, else the tenant's credential whose ``provider`` is the provider's
name. Under ``serve`` an agent can never name an environment variable (it would read the
server's own secrets) nor hold a key (refused when the agent is stored).

Errors are :class:`ConfigError`\\ s naming the field (``stt.fallback[0].api_key_env: …``);
they never hold a key.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping

from voxplane.agents.schema import AgentConfig
from voxplane.agents.speech import LOCAL_PROVIDERS, ProviderAccess, provider_entries
from voxplane.errors import ConfigError, NotFoundError
from voxplane.services.credentials import CredentialService


class KeySource(ABC):
    """Where the keys of cloud providers come from."""

    @abstractmethod
    async def key(self, where: str, provider: str, access: ProviderAccess) -> str:
        """The key for the provider at ``where``; :class:`ConfigError` naming the field."""


class InlineKeys(KeySource):
    """``voxplane talk``: the agent file's ``api_key``, or ``api_key_env`` from ``env``
    (the entry point passes the environment; library code never reads it)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    async def key(self, where: str, provider: str, access: ProviderAccess) -> str:
        if access.api_key is not None:
            return access.api_key.get_secret_value()
        if access.api_key_env is not None:
            value = self._env.get(access.api_key_env, "").strip()
            if not value:
                raise ConfigError(f"{where}.api_key_env: {access.api_key_env} is not set")
            return value
        if access.credential is not None:
            raise ConfigError(f"{where}.credential: stored credentials need voxplane serve")
        raise ConfigError(f"{where}: {provider} needs api_key or api_key_env")


class StoredKeys(KeySource):
    """``voxplane serve``: the tenant's encrypted credentials."""

    def __init__(self, credentials: CredentialService, tenant_id: str) -> None:
        self._credentials = credentials
        self._tenant_id = tenant_id

    async def key(self, where: str, provider: str, access: ProviderAccess) -> str:
        if access.api_key is not None or access.api_key_env is not None:
            field = "api_key" if access.api_key is not None else "api_key_env"
            raise ConfigError(f"{where}.{field}: use a stored credential under voxplane serve")
        if access.credential is not None:
            try:
                return await self._credentials.reveal(self._tenant_id, access.credential)
            except NotFoundError:
                raise ConfigError(
                    f"{where}.credential: no credential named {access.credential!r}"
                ) from None
        secrets = await self._credentials.reveal_provider(self._tenant_id, provider)
        if not secrets:
            raise ConfigError(f"{where}: no stored credential of provider {provider!r}")
        return secrets[0]


class NoKeys(KeySource):
    """No source of keys: an agent that needs one cannot run here."""

    async def key(self, where: str, provider: str, access: ProviderAccess) -> str:
        raise ConfigError(f"{where}: {provider} needs a key, and none can be found here")


async def resolve_keys(agent: AgentConfig, source: KeySource) -> dict[str, str]:
    """The key of every cloud provider of ``agent``, by field path."""
    return {
        where: await source.key(where, provider, access)
        for where, provider, access in provider_entries(agent.stt, agent.tts)
        if provider not in LOCAL_PROVIDERS
    }
