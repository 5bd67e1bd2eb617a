"""The ``brain:`` section of an LLM agent: the model, its prompt and its tools.

::

    brain:
      type: llm
      provider: openai                      # openai | anthropic | llama_cpp
      base_url: http://127.0.0.1:8000/v1    # optional: any OpenAI-compatible server
      model: gpt-4o-mini                    # llama_cpp: a GGUF file path
      api_key_env: OPENAI_API_KEY           # or api_key: …, or credential: <stored name>
      prompt: You are the receptionist of {{company}}.
      variables: {company: Acme Dental}
      first_message: Hello, how can I help?
      temperature: 0.3
      max_tokens: 200
      tools: [...]
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from voxplane.agents.flow import is_emergency_number
from voxplane.agents.llm_model import LlmModel, key_problem
from voxplane.agents.speech import RoutingConfig

TOOL_NAME = r"^[a-zA-Z_][a-zA-Z0-9_-]{0,63}$"
VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ToolAuth(_Strict):
    """How an HTTP tool authenticates: a secret sent in ``header`` as ``scheme secret``."""

    credential: str | None = Field(None, min_length=1, max_length=100)
    """The tenant's stored credential of this name (``voxplane serve``)."""
    api_key_env: str | None = Field(None, min_length=1, max_length=200)
    """An environment variable holding the secret (``voxplane talk``)."""
    header: str = Field("Authorization", pattern=r"^[A-Za-z0-9-]{1,64}$")
    scheme: str = Field("Bearer", max_length=20)
    """Put before the secret (``Bearer``); empty sends the secret alone."""

    @model_validator(mode="after")
    def _one_source(self) -> ToolAuth:
        if (self.credential is None) == (self.api_key_env is None):
            raise ValueError("give exactly one of 'credential' or 'api_key_env'")
        return self


class _ToolBase(_Strict):
    description: str = Field("", max_length=1000)


class HttpTool(_ToolBase):
    """An HTTP endpoint the model may call. ``GET`` sends the arguments as the query
    string, other methods as a JSON body; the response body (JSON or text, cut to
    ``max_response_chars``) goes back to the model."""

    type: Literal["http"]
    name: str = Field(pattern=TOOL_NAME)
    url: str = Field(min_length=1, max_length=2000)
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    """A JSON schema (``type: object``) of the arguments."""
    timeout_ms: int = Field(5000, ge=100, le=60_000)
    auth: ToolAuth | None = None
    side_effects: bool | None = None
    """Whether calling it changes something (a booking, a payment): a turn that did cannot
    be taken back when the caller turns out to have only paused. Default: every method
    but ``GET``."""
    filler: str = Field("One moment, please.", max_length=200)
    """Said when the tool has not answered after ``filler_after_ms``; empty says nothing."""
    filler_after_ms: int = Field(800, ge=0, le=10_000)
    apology: str = Field(
        "Sorry, I couldn't get that information right now.", min_length=1, max_length=300
    )
    """Said when the tool times out or fails; the model is told it failed."""
    max_response_chars: int = Field(4000, ge=100, le=50_000)

    @model_validator(mode="after")
    def _object_schema(self) -> HttpTool:
        if self.parameters.get("type") != "object":
            raise ValueError("parameters: must be a JSON schema with type: object")
        return self

    @property
    def changes_things(self) -> bool:
        return self.side_effects if self.side_effects is not None else self.method != "GET"


class EndCallTool(_ToolBase):
    """The model ends the call (after its last words)."""

    type: Literal["end_call"]


class TransferCallTool(_ToolBase):
    """The model hands the call to a person at one of ``targets`` (E.164 or SIP URI)."""

    type: Literal["transfer_call"]
    targets: dict[str, str] = Field(min_length=1)
    """Name the model uses → number or SIP URI (``{sales: "+15550100"}``)."""

    @model_validator(mode="after")
    def _no_emergency(self) -> TransferCallTool:
        for name, target in self.targets.items():
            if is_emergency_number(target):
                raise ValueError(f"an agent never transfers to emergency numbers ({name})")
        return self


class SendDtmfTool(_ToolBase):
    """The model presses keys on the line (to work an IVR on an outbound call)."""

    type: Literal["send_dtmf"]


Tool = Annotated[
    HttpTool | EndCallTool | TransferCallTool | SendDtmfTool, Field(discriminator="type")
]


def tool_name(tool: HttpTool | EndCallTool | TransferCallTool | SendDtmfTool) -> str:
    return tool.name if isinstance(tool, HttpTool) else tool.type


class LlmBrainConfig(LlmModel):
    """The ``brain:`` section for ``type: llm``."""

    type: Literal["llm"]
    prompt: str = Field(min_length=1, max_length=20_000)
    """The system prompt; ``{{name}}`` is replaced by ``variables.name``."""
    variables: dict[str, str] = Field(default_factory=dict)
    first_message: str | None = Field(None, max_length=1000)
    context_tokens: int = Field(4000, ge=256, le=200_000)
    """The conversation sent to the model is trimmed, oldest turns first, to this budget."""
    tools: tuple[Tool, ...] = ()
    fallback: tuple[LlmModel, ...] = Field((), max_length=4)
    """Models tried in order when this one fails or is slow to start answering, each
    behind a circuit breaker (``routing``)."""
    routing: RoutingConfig = RoutingConfig()

    @model_validator(mode="after")
    def _check(self) -> LlmBrainConfig:
        problem = key_problem(self, "brain")
        for index, model in enumerate(self.fallback):
            problem = problem or key_problem(model, f"brain.fallback[{index}]")
        if problem:
            raise ValueError(problem)
        if self.tools and any(m.provider == "llama_cpp" for m in self.fallback):
            raise ValueError("brain.fallback: a llama_cpp model takes no tools")
        if self.provider == "llama_cpp" and self.tools:
            raise ValueError(
                "brain.tools: the llama_cpp provider takes no tools; serve the model behind "
                "an OpenAI-compatible server and use provider: openai"
            )
        missing = sorted(set(VARIABLE.findall(self.prompt)) - set(self.variables))
        if missing:
            raise ValueError(f"brain.variables: no value for {{{{{missing[0]}}}}} in the prompt")
        names = [tool_name(tool) for tool in self.tools]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise ValueError(f"brain.tools[{index}]: a second tool named {name!r}")
        return self

    def system_prompt(self) -> str:
        return VARIABLE.sub(lambda m: self.variables[m[1]], self.prompt)
