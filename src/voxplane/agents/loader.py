"""Load an agent document from YAML; errors name the field and the line."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from voxplane.agents.schema import AgentConfig
from voxplane.errors import ConfigError

MAX_DOCUMENT_BYTES = 1_000_000
Loc = tuple[str | int, ...]


def load_agent_file(path: Path) -> AgentConfig:
    """Read and validate an agent YAML file."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read agent file: {error.strerror}") from error
    return parse_agent(data, source=str(path))


def parse_agent(data: bytes | str, source: str = "<agent>") -> AgentConfig:
    """Validate an agent document given as YAML text."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise ConfigError(f"{source}: agent document is over {MAX_DOCUMENT_BYTES} bytes")
    try:
        node = yaml.compose(data, Loader=yaml.SafeLoader)
        document = yaml.safe_load(data)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(f"{source}{where}: invalid YAML: {problem}") from error
    if not isinstance(document, dict):
        raise ConfigError(f"{source}: an agent document must be a mapping of sections")
    lines = _lines(node)
    try:
        return AgentConfig.model_validate(document)
    except ValidationError as error:
        raise ConfigError(_describe(error, lines, source)) from error


def _lines(node: yaml.Node | None, loc: Loc = ()) -> dict[Loc, int]:
    """Line number (1-based) of every mapping key and sequence item in the document."""
    found: dict[Loc, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*loc, str(key.value))
            found[child] = key.start_mark.line + 1
            found.update(_lines(value, child))
    elif isinstance(node, yaml.SequenceNode):
        for index, value in enumerate(node.value):
            child = (*loc, index)
            found[child] = value.start_mark.line + 1
            found.update(_lines(value, child))
    return found


def _describe(error: ValidationError, lines: dict[Loc, int], source: str) -> str:
    problems = []
    for loc, detail in field_problems(error.errors()):
        line = _nearest_line(loc, lines)
        where = f"{source}:{line}" if line else source
        problems.append(f"{where}: {format_loc(loc) or '(document)'}: {detail}")
    return "\n".join(problems)


def field_problems(errors: Sequence[Any], root: Loc = ()) -> list[tuple[Loc, str]]:
    """Each pydantic error as (field path, message), with whole-document checks (the flow
    graph) attributed to the deeper field they name. ``root`` is where the document sits
    (``("body",)`` in an API request)."""
    problems: list[tuple[Loc, str]] = []
    for item in errors:
        loc: Loc = tuple(item["loc"])
        message = str(item["msg"]).removeprefix("Value error, ")
        for text in message.splitlines():
            named = _NAMED_FIELD.match(text)
            if named:
                problems.append(((*root, *_parse_loc(named[1])), named[2]))
            else:
                problems.append((_untagged(loc), text + _got(item)))
    return problems


_UNION_TAGS = frozenset(
    {"flow", "llm", "scripted", "http", "end_call", "transfer_call", "send_dtmf"}
)
"""``type:`` values of the document's tagged unions, which pydantic puts in error paths
(``brain.llm.provider``); the document has no such key, so the path drops them."""


def _untagged(loc: Loc) -> Loc:
    return tuple(
        part
        for index, part in enumerate(loc)
        if not (
            part in _UNION_TAGS
            and index > 0
            and (loc[index - 1] == "brain" or isinstance(loc[index - 1], int))
        )
    )


_NAMED_FIELD = re.compile(r"^([A-Za-z_][\w]*(?:\.[\w-]+|\[\d+\])+): (.*)$")


def _parse_loc(path: str) -> Loc:
    return tuple(
        int(part[1:-1]) if part.startswith("[") else part
        for part in re.findall(r"[^.\[\]]+|\[\d+\]", path)
    )


def _nearest_line(loc: Loc, lines: dict[Loc, int]) -> int | None:
    for end in range(len(loc), 0, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def format_loc(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _got(item: Any) -> str:
    if item["type"] in {"missing", "extra_forbidden"} or "input" not in item:
        return ""
    value = item["input"]
    if isinstance(value, (dict, list)):
        return ""
    return f" (got {value!r})"
