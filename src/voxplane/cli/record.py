"""Record a finished ``voxplane talk`` call on a voxplane server (``--server``).

The agent is matched by name: the server's current version is used when its document is
the same, a new version is made when it differs, and the agent is created when missing, so
the recorded call always points at the exact document it ran.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from voxplane.agents.schema import AgentConfig
from voxplane.agents.speech import without_inline_keys
from voxplane.errors import ConfigError
from voxplane.pipeline.records import CallResult, result_document

TIMEOUT_S = 15.0


class CallRecorder:
    """A small client of the calls API, authenticated with an API key."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.server = str(client.base_url).rstrip("/")

    @classmethod
    def connect(cls, server: str, api_key: str) -> CallRecorder:
        headers = {"Authorization": f"Bearer {api_key}"}
        return cls(httpx.Client(base_url=server, headers=headers, timeout=TIMEOUT_S))

    def close(self) -> None:
        self.client.close()

    def check(self) -> None:
        """Fail fast (before loading models) when the server or the key is wrong."""
        self._send("GET", "/v1/tenant")

    def agent_version(self, agent: AgentConfig) -> tuple[str, int]:
        """The server's (agent id, version) holding exactly this document (less the keys
        of ``voxplane talk``: the server's calls use the tenant's stored credentials)."""
        document = without_inline_keys(agent.model_dump(mode="json", by_alias=True))
        found = self._send("GET", "/v1/agents", params={"name": agent.name, "limit": 1})["items"]
        if not found:
            created = self._send("POST", "/v1/agents", json=document)
            return created["id"], created["version"]
        current = found[0]
        if current["document"] != document:
            current = self._send("PUT", f"/v1/agents/{current['id']}", json=document)
        return current["id"], current["version"]

    def record(
        self, agent: AgentConfig, result: CallResult, started: datetime, ended: datetime
    ) -> str:
        """Store the call; returns its id on the server."""
        agent_id, version = self.agent_version(agent)
        document = result_document(agent.name, result)
        body = {
            "agent_id": agent_id,
            "agent_version": version,
            "direction": "simulated",
            "transport": "simulated",
            "started_at": started.isoformat(),
            "ended_at": ended.isoformat(),
            "end_reason": result.ended_by,
            "usage": {
                "audio_s": round(result.caller_audio_ms / 1000, 3),
                "stt_s": round(result.stt_audio_ms / 1000, 3),
                "tts_chars": result.tts_characters,
                "llm_tokens": result.llm_tokens,
            },
            "false_starts": document["false_starts"],
            "held_turns": document["held_turns"],
            "provider_errors": document["provider_errors"],
            "soft_barge_ins": document["soft_barge_ins"],
            "resumed_after_backchannel": document["resumed_after_backchannel"],
            "turns": document["turns"],
            "metrics": document["metrics"],
        }
        call_id: str = self._send("POST", "/v1/calls", json=body)["id"]
        return call_id

    def _send(self, method: str, path: str, **options: Any) -> Any:
        try:
            response = self.client.request(method, path, **options)
        except httpx.HTTPError as error:
            raise ConfigError(f"cannot reach {self.server}: {error}") from error
        if response.is_success:
            return response.json()
        try:
            detail = response.json().get("detail", response.reason_phrase)
        except ValueError:
            detail = response.reason_phrase
        raise ConfigError(f"{self.server}{path}: {response.status_code} {detail}")
