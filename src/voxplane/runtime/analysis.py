"""Post-call analysis: what the platform works out once a call ends.

The agent's ``analysis`` section asks for structured fields (a JSON schema), success
criteria and a summary. A flow agent's fields come from the slots its conversation
gathered, typed as the schema says; its call is a success when every required field was
gathered (``success`` stays None when nothing is required). An agent whose brain is an LLM
asks its own model, once, with the transcript: the summary, whether the success criteria
were met, and the fields (typed as the schema says; a value of the wrong type is left
out). A model that fails, times out or answers something other than a JSON object costs
the model's part of the analysis (logged), never the call's record.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from voxplane.agents.schema import AnalysisConfig, FieldType
from voxplane.errors import VoxplaneError
from voxplane.pipeline.records import TurnRecord
from voxplane.providers.base import LLM, Brain, ChatMessage, LlmOptions, TextDelta
from voxplane.providers.llm.brain import LlmBrain
from voxplane.services.schemas import CallAnalysis

log = logging.getLogger(__name__)

_YES = frozenset({"yes", "yeah", "yep", "true", "correct", "right", "sure"})
_NO = frozenset({"no", "nope", "false", "wrong"})
ANALYSIS_TIMEOUT_S = 20.0
MAX_TRANSCRIPT_CHARS = 24_000
"""The transcript's most recent part goes to the model: a long call's opening is cut."""
OPTIONS = LlmOptions(temperature=0.0, max_tokens=400)


def analyse(config: AnalysisConfig | None, gathered: Mapping[str, str]) -> CallAnalysis | None:
    """The analysis of a call whose brain gathered ``gathered``; None when the agent asks
    for none."""
    if config is None:
        return None
    fields: dict[str, str | int | float | bool] = {}
    success = None
    if config.fields is not None:
        for name, prop in config.fields.properties.items():
            if name in gathered and (value := typed(gathered[name], prop.type)) is not None:
                fields[name] = value
        if config.fields.required:
            success = all(name in fields for name in config.fields.required)
    return CallAnalysis(fields=fields, success=success)


async def analyse_call(
    config: AnalysisConfig | None, brain: Brain, turns: Sequence[TurnRecord]
) -> CallAnalysis | None:
    """The call's analysis: from what the brain gathered, then, for an LLM brain, from
    its model."""
    found = analyse(config, brain.gathered())
    if config is None or found is None or not isinstance(brain, LlmBrain):
        return found
    if not (config.summary or config.success_criteria or config.fields):
        return found
    try:
        async with asyncio.timeout(ANALYSIS_TIMEOUT_S):
            answer = await _ask(brain.llm, config, turns)
    except (VoxplaneError, TimeoutError) as error:
        log.warning("post-call analysis by the model failed", extra={"error": str(error)})
        return found
    parsed = _json_object(answer)
    if parsed is None:
        log.warning("post-call analysis: the model's answer is not a JSON object")
        return found
    return _merge(config, found, parsed)


async def _ask(llm: LLM, config: AnalysisConfig, turns: Sequence[TurnRecord]) -> str:
    keys = []
    if config.summary:
        keys.append('"summary": two or three sentences on what the call was about and how it ended')
    if config.success_criteria:
        keys.append(
            f'"success": true if the call met this goal, else false: {config.success_criteria}'
        )
    if config.fields is not None:
        described = ", ".join(
            f'"{name}" ({prop.type}{": " + prop.description if prop.description else ""})'
            for name, prop in config.fields.properties.items()
        )
        keys.append(f'"fields": an object with {described}; leave out what the call did not say')
    system = (
        "You analyse a finished phone call between a caller and an AI agent. Answer with "
        "one JSON object and nothing else, with these keys: " + "; ".join(keys) + "."
    )
    lines = [f"{'Caller' if t.role == 'user' else 'Agent'}: {t.text}" for t in turns if t.text]
    transcript = "\n".join(lines)[-MAX_TRANSCRIPT_CHARS:]
    messages = [ChatMessage("system", system), ChatMessage("user", transcript or "(silence)")]
    parts = [e.text async for e in llm.stream(messages, (), OPTIONS) if isinstance(e, TextDelta)]
    return "".join(parts)


def _json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in ``text`` (models wrap it in prose or code fences)."""
    start = text.find("{")
    while start != -1:
        try:
            value, _ = json.JSONDecoder().raw_decode(text, start)
        except ValueError:
            start = text.find("{", start + 1)
            continue
        return value if isinstance(value, dict) else None
    return None


def _merge(config: AnalysisConfig, found: CallAnalysis, parsed: dict[str, Any]) -> CallAnalysis:
    fields = dict(found.fields)
    given = parsed.get("fields")
    if config.fields is not None and isinstance(given, dict):
        for name, prop in config.fields.properties.items():
            value = given.get(name)
            if value is not None and (kept := _of_type(value, prop.type)) is not None:
                fields[name] = kept
    success = found.success
    if config.success_criteria and isinstance(parsed.get("success"), bool):
        success = parsed["success"]
    summary = parsed.get("summary") if config.summary else None
    return CallAnalysis(
        fields=fields,
        success=success,
        summary=summary.strip()[:4000] or None if isinstance(summary, str) else None,
    )


def _of_type(value: object, kind: FieldType) -> str | int | float | bool | None:
    if isinstance(value, bool):
        return value if kind == "boolean" else None
    if isinstance(value, int | float) and kind in ("integer", "number"):
        if kind == "integer":
            return int(value) if float(value).is_integer() and abs(value) < 10**18 else None
        return float(value) if math.isfinite(value) else None
    return typed(str(value), kind)


def typed(text: str, kind: FieldType) -> str | int | float | bool | None:
    """A slot's text as the schema's type, or None when it is not one."""
    text = text.strip()
    if kind == "string":
        return text[:2000] or None
    if kind == "boolean":
        word = text.casefold().rstrip(".!")
        return True if word in _YES else False if word in _NO else None
    if kind == "integer":
        digits = re.sub(r"[\s,]", "", text)
        return int(digits) if re.fullmatch(r"-?\d{1,18}", digits) else None
    try:
        number = float(text.replace(",", ""))
    except ValueError:
        return None
    return number if math.isfinite(number) else None
