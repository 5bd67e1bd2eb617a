"""Which chat model an agent talks to, and with what key: shared by an LLM brain
(``brain: {type: llm}``) and a flow's LLM steps (``brain.llm``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

LlmProvider = Literal["openai", "anthropic", "llama_cpp"]


class LlmModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: LlmProvider
    base_url: str | None = Field(None, max_length=2000, pattern=r"^https?://\S+$")
    """An OpenAI-compatible server (vLLM, TGI, Ollama, llama.cpp's server); ``openai`` only."""
    model: str = Field(min_length=1, max_length=500)
    """The model name; for ``llama_cpp``, the path of a GGUF file."""
    api_key: str | None = Field(None, min_length=1, max_length=500)
    api_key_env: str | None = Field(None, min_length=1, max_length=200)
    credential: str | None = Field(None, min_length=1, max_length=100)
    """The tenant's stored credential of this name (``voxplane serve``)."""
    temperature: float = Field(0.3, ge=0.0, le=2.0)
    max_tokens: int = Field(200, ge=1, le=4096)


def key_problem(model: LlmModel, where: str) -> str | None:
    """What is wrong with how ``model`` gets its key, as ``<where>.<field>: problem``."""
    keys = [k for k in ("api_key", "api_key_env", "credential") if getattr(model, k)]
    if len(keys) > 1:
        return f"{where}.{keys[1]}: give only one of api_key, api_key_env, credential"
    if model.provider == "llama_cpp":
        if keys:
            return f"{where}.{keys[0]}: llama_cpp runs in-process and takes no key"
        if model.base_url:
            return f"{where}.base_url: llama_cpp loads a GGUF file: use model"
    elif model.provider == "anthropic" and model.base_url:
        return f"{where}.base_url: only the openai provider takes a base_url"
    elif not keys and not model.base_url:
        return (
            f"{where}.api_key_env: {model.provider} needs an API key "
            "(api_key_env, api_key or credential)"
        )
    return None
