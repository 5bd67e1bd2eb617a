"""What an LLM agent's tools do when the model calls them.

HTTP tools go to the tenant's endpoint through the SSRF policy (the URL is checked when
the call starts, and its host's addresses again before every request, which then goes to
the checked address). Built-ins map onto the transport: ``end_call`` → hang up,
``transfer_call`` → transfer (never to an emergency number), ``send_dtmf`` → keypad keys.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from voxplane import __version__
from voxplane.agents.flow import is_emergency_number
from voxplane.agents.llm import EndCallTool, HttpTool, SendDtmfTool, TransferCallTool, tool_name
from voxplane.errors import ProviderError
from voxplane.net.urlpolicy import BlockedAddress, Target, parse_url, pin, resolve
from voxplane.providers.base import HangUp, SendDtmf, ToolCall, ToolSpec, Transfer

log = logging.getLogger(__name__)

AnyTool = HttpTool | EndCallTool | TransferCallTool | SendDtmfTool
MAX_DTMF_KEYS = 32
DTMF_KEYS = frozenset("0123456789*#ABCD")


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """What a tool call gives back: ``result`` for the model; ``action`` for the call;
    ``failed`` when the caller should hear the tool's apology."""

    result: str
    action: HangUp | Transfer | SendDtmf | None = None
    failed: bool = False
    ends_turn: bool = False
    """The model is not asked again after it (the call ends or moves)."""


def specs(tools: tuple[AnyTool, ...]) -> list[ToolSpec]:
    """What the model is told about each tool."""
    out = []
    for tool in tools:
        match tool:
            case HttpTool():
                out.append(ToolSpec(tool.name, tool.description, tool.parameters))
            case EndCallTool():
                text = tool.description or "End the call, after saying goodbye."
                out.append(ToolSpec("end_call", text, {"type": "object", "properties": {}}))
            case TransferCallTool():
                names = sorted(tool.targets)
                text = tool.description or "Transfer the caller to a person."
                params: dict[str, object] = {
                    "type": "object",
                    "properties": {"target": {"type": "string", "enum": names}},
                    "required": ["target"],
                }
                out.append(ToolSpec("transfer_call", text, params))
            case SendDtmfTool():
                text = tool.description or "Press keypad keys on the line (0-9, *, #)."
                params = {
                    "type": "object",
                    "properties": {"keys": {"type": "string"}},
                    "required": ["keys"],
                }
                out.append(ToolSpec("send_dtmf", text, params))
    return out


def changes_things(tool: AnyTool) -> bool:
    """Whether a call of ``tool`` cannot be taken back."""
    return tool.changes_things if isinstance(tool, HttpTool) else True


class ToolRunner:
    """Runs one call's tool calls. ``secrets`` holds each HTTP tool's resolved auth secret
    by tool name; ``allow_private`` lets tools reach private and loopback addresses."""

    def __init__(
        self,
        tools: tuple[AnyTool, ...],
        secrets: Mapping[str, str],
        *,
        allow_private: bool,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._tools = {tool_name(tool): tool for tool in tools}
        self._secrets = dict(secrets)
        self._allow_private = allow_private
        self._client = client
        self._targets: dict[str, Target] = {}
        for index, tool in enumerate(tools):
            if isinstance(tool, HttpTool):
                field = f"brain.tools[{index}].url"
                self._targets[tool.name] = parse_url(
                    tool.url, allow_private=allow_private, field=field
                )

    def tool(self, name: str) -> AnyTool | None:
        return self._tools.get(name)

    async def run(self, call: ToolCall) -> ToolOutcome:
        """Run ``call``; a bad call (unknown tool, bad arguments) is told to the model."""
        tool = self._tools.get(call.name)
        if tool is None:
            return ToolOutcome(f"error: there is no tool named {call.name!r}")
        arguments = _arguments(call.arguments)
        if isinstance(arguments, str):
            return ToolOutcome(arguments)
        match tool:
            case HttpTool():
                return await self._http(tool, arguments)
            case EndCallTool():
                return ToolOutcome("the call will end", HangUp("agent_hangup"), ends_turn=True)
            case TransferCallTool():
                return _transfer(tool, arguments)
            case SendDtmfTool():
                return _dtmf(arguments)

    async def _http(self, tool: HttpTool, arguments: dict[str, Any]) -> ToolOutcome:
        try:
            body = await self._request(tool, arguments)
        except (httpx.HTTPError, BlockedAddress, ProviderError) as error:
            log.warning("tool failed", extra={"tool": tool.name, "error": str(error) or "timeout"})
            return ToolOutcome(f"error: the tool failed ({type(error).__name__})", failed=True)
        return ToolOutcome(body)

    async def _request(self, tool: HttpTool, arguments: dict[str, Any]) -> str:
        target = self._targets[tool.name]
        address = await resolve(target, allow_private=self._allow_private)
        pinned = pin(target, address)
        headers = {"Host": pinned.host_header, "User-Agent": f"voxplane-tools/{__version__}"}
        if tool.auth is not None:
            secret = self._secrets[tool.name]
            headers[tool.auth.header] = f"{tool.auth.scheme} {secret}".strip()
        client = self._client or httpx.AsyncClient(follow_redirects=False, trust_env=False)
        try:
            request = client.build_request(
                tool.method,
                pinned.url,
                params=_query(arguments) if tool.method == "GET" else None,
                json=None if tool.method == "GET" else arguments,
                headers=headers,
                timeout=tool.timeout_ms / 1000,
                extensions=pinned.extensions,
            )
            response = await client.send(request)
        finally:
            if self._client is None:
                await client.aclose()
        if not 200 <= response.status_code < 300:
            raise ProviderError(f"HTTP {response.status_code}")
        return response.text[: tool.max_response_chars]

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()


def _arguments(text: str) -> dict[str, Any] | str:
    """The model's arguments as a JSON object, or what is wrong with them."""
    try:
        arguments = json.loads(text or "{}")
    except json.JSONDecodeError:
        return "error: the arguments are not valid JSON"
    if not isinstance(arguments, dict):
        return "error: the arguments must be a JSON object"
    return arguments


def _transfer(tool: TransferCallTool, arguments: dict[str, Any]) -> ToolOutcome:
    name = str(arguments.get("target", ""))
    target = tool.targets.get(name)
    if target is None:
        return ToolOutcome(f"error: no transfer target named {name!r}; use one of the list")
    if is_emergency_number(target):  # checked again where the transport transfers
        return ToolOutcome("refused: an agent never transfers to emergency numbers")
    return ToolOutcome(f"transferring to {name}", Transfer(target), ends_turn=True)


def _dtmf(arguments: dict[str, Any]) -> ToolOutcome:
    keys = str(arguments.get("keys", "")).replace(" ", "").upper()
    if not keys or len(keys) > MAX_DTMF_KEYS or not set(keys) <= DTMF_KEYS:
        return ToolOutcome("error: keys must be 1-32 of 0-9, *, #, A-D")
    return ToolOutcome(f"pressed {keys}", SendDtmf(keys))


def _query(arguments: dict[str, Any]) -> dict[str, str]:
    return {
        key: value if isinstance(value, str) else json.dumps(value)
        for key, value in arguments.items()
    }
