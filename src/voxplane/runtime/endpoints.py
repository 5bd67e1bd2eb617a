"""Checks on the ``base_url`` of an agent's cloud providers, before a call uses them.

- Under ``voxplane serve`` a tenant's ``base_url`` goes through the webhooks' SSRF policy
  (``net.urlpolicy``): never link-local (cloud metadata), reserved or multicast
  addresses, and loopback or private ones only where the deployment allows private networks.
- ``voxplane talk`` checks that every ``base_url`` answers (``net.reach``), so a typo is
  one line naming the field rather than a call of failed turns.

Both raise :class:`ConfigError` naming the field (``tts.fallback[0].base_url: …``).
"""

from __future__ import annotations

from voxplane.agents.schema import AgentConfig
from voxplane.agents.speech import provider_entries
from voxplane.errors import ConfigError, InvalidError
from voxplane.net.reach import Unreachable, as_http, check_answers
from voxplane.net.urlpolicy import BlockedAddress, parse_url, resolve


def _base_urls(agent: AgentConfig) -> list[tuple[str, str]]:
    return [
        (f"{where}.base_url", access.base_url)
        for where, _provider, access in provider_entries(agent.stt, agent.tts)
        if access.base_url
    ]


async def check_policy(agent: AgentConfig, *, allow_private: bool) -> None:
    """Every ``base_url`` allowed by the SSRF policy, after DNS resolution."""
    for field, url in _base_urls(agent):
        try:
            target = parse_url(as_http(url), allow_private=allow_private)
            await resolve(target, allow_private=allow_private)
        except InvalidError as error:
            raise ConfigError(f"{field}: {error.message}") from None
        except BlockedAddress as error:
            raise ConfigError(f"{field}: {error}") from None


async def check_reachable(agent: AgentConfig) -> None:
    """Every ``base_url`` answers (``voxplane talk``: private networks are the user's
    own)."""
    for field, url in _base_urls(agent):
        try:
            await check_answers(url, allow_private=True, field=field)
        except InvalidError as error:
            raise ConfigError(f"{field}: {error.message}") from None
        except Unreachable as error:
            raise ConfigError(f"{field}: {error}") from None
