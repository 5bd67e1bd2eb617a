"""An LLM agent's brain, built from its ``brain:`` section: the provider, its key, its tools.

Keys come from where the agent says: ``api_key`` inline or ``api_key_env`` (``voxplane
talk`` only), or ``credential``, the tenant's stored credential of that name (``voxplane
serve``, through ``reveal``). Errors are :class:`ConfigError` naming the field.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from voxplane.agents.llm import HttpTool, LlmBrainConfig
from voxplane.agents.llm_model import LlmModel
from voxplane.errors import ConfigError, InvalidError, NotFoundError
from voxplane.net.reach import Unreachable, check_answers
from voxplane.net.urlpolicy import parse_url
from voxplane.providers.base import LLM
from voxplane.providers.breaker import BreakerBoard, BreakerPolicy
from voxplane.providers.fallback import FallbackLLM, FallbackRouter, Member, RoutingPolicy
from voxplane.providers.llm.brain import LlmBrain
from voxplane.providers.llm.tools import ToolRunner

Reveal = Callable[[str], Awaitable[str]]
"""The tenant's stored credential of a name (raises NotFoundError when there is none)."""


async def build_llm_brain(
    config: LlmBrainConfig,
    greeting: str | None,
    *,
    reveal: Reveal | None,
    allow_private: bool,
    check_reachable: bool = False,
    board: BreakerBoard | None = None,
) -> LlmBrain:
    """A fresh brain for one call. ``reveal`` is None outside ``voxplane serve`` (stored
    credentials cannot be named); ``check_reachable`` probes ``base_url`` first; ``board``
    holds the process's circuit breakers, shared by every call's ``fallback`` models."""
    key = await _secret("brain", config.api_key, config.api_key_env, config.credential, reveal)
    secrets: dict[str, str] = {}
    for index, tool in enumerate(config.tools):
        if isinstance(tool, HttpTool) and tool.auth is not None:
            auth = tool.auth
            field = f"brain.tools[{index}].auth"
            secret = await _secret(field, None, auth.api_key_env, auth.credential, reveal)
            assert secret is not None
            secrets[tool.name] = secret
    try:
        tools = ToolRunner(config.tools, secrets, allow_private=allow_private)
    except InvalidError as error:
        raise ConfigError(f"{error.field}: {error}") from error
    if config.base_url:
        await _check_base_url(config.base_url, "brain.base_url", allow_private, check_reachable)
    llm = await make_llm(config, key)
    if config.fallback:
        llm = await _with_fallback(
            config,
            llm,
            key,
            reveal=reveal,
            allow_private=allow_private,
            check_reachable=check_reachable,
            board=board or BreakerBoard(),
        )
    return LlmBrain(config, llm, tools, greeting)


async def _with_fallback(
    config: LlmBrainConfig,
    primary: LLM,
    key: str | None,
    *,
    reveal: Reveal | None,
    allow_private: bool,
    check_reachable: bool,
    board: BreakerBoard,
) -> LLM:
    """The brain's model and its ``fallback`` models behind one :class:`FallbackLLM`, each
    with the process's circuit breaker for its provider and account."""
    policy = BreakerPolicy(config.routing.failures, config.routing.cooldown_s)

    def member(model: LlmModel, llm: LLM, key: str | None) -> Member[LLM]:
        account = hashlib.sha256(f"{model.base_url or model.model}\n{key}".encode())
        breaker = board.breaker("llm", model.provider, account.hexdigest()[:16], policy)
        return Member(model.provider, llm, breaker)

    members = [member(config, primary, key)]
    for index, model in enumerate(config.fallback):
        where = f"brain.fallback[{index}]"
        secret = await _secret(where, model.api_key, model.api_key_env, model.credential, reveal)
        if model.base_url:
            await _check_base_url(
                model.base_url, f"{where}.base_url", allow_private, check_reachable
            )
        members.append(member(model, await make_llm(model, secret), secret))
    routing = RoutingPolicy(config.routing.attempt_timeout_s, config.routing.prefer_fastest)
    return FallbackLLM(FallbackRouter("llm", members, routing))


async def build_flow_llm(
    model: LlmModel, *, reveal: Reveal | None, allow_private: bool, check_reachable: bool = False
) -> LLM:
    """The model of a flow's LLM steps (``brain.llm``)."""
    key = await _secret("brain.llm", model.api_key, model.api_key_env, model.credential, reveal)
    if model.base_url:
        await _check_base_url(model.base_url, "brain.llm.base_url", allow_private, check_reachable)
    return await make_llm(model, key)


async def _check_base_url(url: str, field: str, allow_private: bool, reachable: bool) -> None:
    try:
        parse_url(url, allow_private=allow_private, field=field)
    except InvalidError as error:
        raise ConfigError(f"{error.field}: {error}") from error
    if reachable:
        await check_base_url(url, field)


async def make_llm(config: LlmModel, key: str | None) -> LLM:
    """The provider adapter; a missing extra is a ConfigError naming ``brain.provider``."""
    try:
        match config.provider:
            case "openai":
                from voxplane.providers.llm.openai_chat import OpenAiLLM  # noqa: PLC0415

                return OpenAiLLM(config.model, key, config.base_url)
            case "anthropic":
                from voxplane.providers.llm.anthropic_chat import AnthropicLLM  # noqa: PLC0415

                assert key is not None
                return AnthropicLLM(config.model, key)
            case "llama_cpp":
                from voxplane.providers.llm.llama_cpp import (  # noqa: PLC0415
                    LlamaCppLLM,
                    shared_model,
                )

                path = Path(config.model)
                model = await asyncio.to_thread(lambda: shared_model(path.expanduser()))
                return LlamaCppLLM(model)
    except ImportError as error:
        raise ConfigError(
            f"brain.provider: {config.provider} needs the 'llm' extra (pip install 'voxplane[llm]')"
        ) from error


async def check_base_url(base_url: str, field: str = "brain.base_url") -> None:
    """The model server answers at ``base_url`` (``voxplane talk``: private networks are
    the user's own)."""
    try:
        await check_answers(base_url, allow_private=True, path="/models", field=field)
    except Unreachable as error:
        raise ConfigError(f"{field}: {error}") from error


async def _secret(
    field: str,
    inline: str | None,
    env: str | None,
    credential: str | None,
    reveal: Reveal | None,
) -> str | None:
    if inline is not None:
        return inline
    if env is not None:
        value = os.environ.get(env)
        if not value:
            raise ConfigError(f"{field}.api_key_env: the environment variable {env} is not set")
        return value
    if credential is not None:
        if reveal is None:
            raise ConfigError(
                f"{field}.credential: stored credentials are for voxplane serve; "
                "use api_key_env here"
            )
        try:
            return await reveal(credential)
        except NotFoundError as error:
            raise ConfigError(f"{field}.credential: no credential named {credential!r}") from error
    return None
