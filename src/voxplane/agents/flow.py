"""The ``brain:`` section of an agent document when the agent is a scripted flow.

A flow is a graph of nodes. Entering a node says its ``say`` text, then asks its ``gather``
question (if any); the caller's answer fills a slot and a transition picks the next node.
Intents (matched against what the caller said) and a small FAQ are shared by all nodes.

Every model forbids unknown fields and is immutable. :class:`FlowConfig` checks the graph as
a whole and reports every problem at once, each line starting with the field path
(``brain.nodes.confirm.transitions[0].to: ...``).
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from voxplane.agents.llm_model import LlmModel, key_problem

GatherType = Literal["digits", "yes_no", "name", "date", "time", "free_text"]

# Short codes that reach emergency services somewhere in the world. An AI agent never
# dials them, whatever a YAML author writes.
EMERGENCY_NUMBERS = frozenset(
    {
        "000", "01", "02", "03", "08", "061", "062", "080", "081", "085", "091", "092",
        "100", "101", "102", "103", "104", "108", "110", "111", "112", "113", "114", "115",
        "117", "118", "119", "120", "122", "123", "125", "128", "140", "150", "155", "160",
        "190", "191", "192", "193", "194", "197", "198", "199", "911", "995", "997", "998",
        "999", "1122", "1669", "10111", "10177", "15", "16", "17", "18", "19", "112112",
    }
)  # fmt: skip


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Intent(_Strict):
    """Something the caller may want, recognised by example phrases and keywords.

    Keywords match per word with tolerance for speech-to-text misspellings; phrases match
    when most of their content words appear in what the caller said.
    """

    phrases: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _not_empty(self) -> Intent:
        if not self.phrases and not self.keywords:
            raise ValueError("an intent needs at least one phrase or keyword")
        _no_duplicates("phrases", self.phrases)
        _no_duplicates("keywords", self.keywords)
        return self


class Condition(_Strict):
    """True when the slot ``slot`` holds ``equals`` (compared case-insensitively)."""

    slot: str
    equals: str


class Transition(_Strict):
    """Go to node ``to`` when ``intent`` matched the caller's words, the caller pressed
    ``key`` ("press 1"), or ``when`` holds."""

    intent: str | None = None
    key: str | None = Field(default=None, pattern=r"^[0-9*#A-D]$")
    """A keypad key that takes this transition, alone or besides ``intent``."""
    when: Condition | None = None
    to: str

    @model_validator(mode="after")
    def _one_trigger(self) -> Transition:
        if (self.intent is None and self.key is None) == (self.when is None):
            raise ValueError(
                "a transition needs exactly one of 'intent' or 'when' ('key' goes with intent)"
            )
        return self

    @property
    def waits(self) -> bool:
        """Taken by what the caller says or presses (not by a slot's value)."""
        return self.intent is not None or self.key is not None


class Gather(_Strict):
    """Ask for one value and store it in ``slot`` once it is understood."""

    slot: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    type: GatherType
    prompt: str = ""
    """The question; empty when the node's ``say`` already asks it."""
    retry: str | None = None
    """Said when the answer was not understood; default: ``messages.not_understood`` + question."""
    max_retries: int = Field(default=2, ge=0, le=10)
    on_fail: str | None = None
    """Node entered after ``max_retries`` retries; default: the flow's ``on_fail``."""
    min_length: int | None = Field(default=None, ge=1, le=32)
    max_length: int | None = Field(default=None, ge=1, le=32)
    choices: tuple[str, ...] = ()
    """For ``type: name``: the accepted names (matched fuzzily)."""

    @model_validator(mode="after")
    def _fits_type(self) -> Gather:
        if self.type != "digits" and (self.min_length or self.max_length):
            raise ValueError("min_length/max_length only apply to type 'digits'")
        if self.min_length and self.max_length and self.min_length > self.max_length:
            raise ValueError(f"min_length {self.min_length} > max_length {self.max_length}")
        if self.choices and self.type != "name":
            raise ValueError("choices only apply to type 'name'")
        _no_duplicates("choices", tuple(c.casefold() for c in self.choices))
        return self


class Action(_Strict):
    """What the call does after the node's words: hang up, or transfer to a human."""

    type: Literal["hangup", "transfer"]
    to: str | None = None
    """Transfer target: an E.164 number (``+15550100``) or a SIP URI."""

    @model_validator(mode="after")
    def _target(self) -> Action:
        if self.type == "hangup" and self.to is not None:
            raise ValueError("a hangup action has no 'to'")
        if self.type == "transfer":
            if not self.to:
                raise ValueError("a transfer action needs 'to'")
            if is_emergency_number(self.to):
                raise ValueError(
                    f"to: {self.to!r} is an emergency number; "
                    "emergency numbers are never dialled by an AI agent"
                )
        return self


class LlmStep(_Strict):
    """A free-form step the flow hands to its LLM (``brain.llm``): the model talks with
    the caller under ``instructions`` until it calls ``step_done`` (or ``max_turns``
    caller turns have passed); the flow then goes on to the node's ``next``."""

    instructions: str = Field(min_length=1, max_length=5000)
    max_turns: int = Field(6, ge=1, le=50)


class Node(_Strict):
    """One step of the conversation."""

    say: str | None = None
    gather: Gather | None = None
    llm: LlmStep | None = None
    """This step is a conversation with the flow's LLM (instead of a gather)."""
    transitions: tuple[Transition, ...] = ()
    next: str | None = None
    """Where to go after the gather; without a gather, right away (or, when the node has
    intent transitions, when none of them matched)."""
    action: Action | None = None

    @model_validator(mode="after")
    def _shape(self) -> Node:
        if self.say is None and self.gather is None and self.action is None and not self.llm:
            raise ValueError("a node needs at least one of 'say', 'gather', 'llm' or 'action'")
        if self.action is not None and (self.gather or self.transitions or self.next or self.llm):
            raise ValueError(
                "a node with an 'action' ends the call: no gather/llm/transitions/next"
            )
        if self.llm is not None and (self.gather or self.transitions or not self.next):
            raise ValueError("an 'llm' step needs 'next' and takes no gather or transitions")
        return self


class Messages(_Strict):
    """The flow's own stock phrases, overridable per agent."""

    not_understood: str = "Sorry, I didn't catch that."
    faq_resume: str = "Now,"
    """Said between an FAQ answer and the repeated question."""
    give_up: str = "I'm sorry, I'm having trouble understanding. Please call back later. Goodbye."
    """Said before hanging up when retries run out and no ``on_fail`` node is set."""


class FaqEntry(_Strict):
    """A question the agent answers from any node before going back to its question."""

    question: str = Field(min_length=1)
    answer: str = Field(min_length=1)
    keywords: tuple[str, ...] = ()


class FlowConfig(_Strict):
    """The ``brain:`` section for ``type: flow``: a scripted conversation graph."""

    type: Literal["flow"]
    start: str
    intents: dict[str, Intent] = {}
    global_: tuple[Transition, ...] = Field(default=(), alias="global")
    """Transitions valid from every node (e.g. "talk to a person", "goodbye")."""
    faq: tuple[FaqEntry, ...] = ()
    nodes: dict[str, Node] = Field(min_length=1)
    on_fail: str | None = None
    """Default node when a gather runs out of retries."""
    max_retries: int = Field(default=2, ge=0, le=10)
    """Retries at nodes without a gather before ``on_fail``."""
    intent_threshold: float = Field(default=80.0, ge=50.0, le=100.0)
    """Minimum intent score (0-100) for a match."""
    faq_min_score: float = Field(default=1.2, ge=0.0)
    """Minimum BM25 score for an FAQ answer; below it the question is not answered."""
    messages: Messages = Messages()
    llm: LlmModel | None = None
    """The model that nodes with an ``llm`` step talk through."""

    @field_validator("global_", mode="after")
    @classmethod
    def _global_intents_only(cls, value: tuple[Transition, ...]) -> tuple[Transition, ...]:
        for i, transition in enumerate(value):
            if transition.intent is None:
                raise ValueError(f"brain.global[{i}]: global transitions need an 'intent'")
        return value

    @model_validator(mode="after")
    def _check_graph(self) -> FlowConfig:
        errors = [*_check_references(self), *_check_slots(self), *_check_shape(self)]
        errors += _check_llm(self)
        if not errors:
            errors = list(_check_reachable(self))
        if errors:
            raise ValueError("\n".join(errors))
        return self

    def gathered_slots(self) -> dict[str, GatherType]:
        """Slot name → gather type, over every node."""
        return {n.gather.slot: n.gather.type for n in self.nodes.values() if n.gather}


def is_emergency_number(target: str) -> bool:
    """True when ``target`` (number or SIP URI) dials an emergency short code."""
    raw = target.strip().lower()
    raw = re.sub(r"^(tel:|sips?:)", "", raw).split("@", 1)[0].split(";", 1)[0]
    digits = re.sub(r"[\s\-().]", "", raw)
    plus = digits.startswith("+")
    digits = digits.lstrip("+")
    if digits in EMERGENCY_NUMBERS:
        return True
    # "+44 999", "+1 911": a country code in front of a short code.
    return plus and len(digits) <= 8 and any(digits[k:] in EMERGENCY_NUMBERS for k in (1, 2, 3))


def _no_duplicates(field: str, values: tuple[str, ...]) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{field}: duplicate {value!r}")
        seen.add(value)


def _transitions(config: FlowConfig) -> Iterator[tuple[str, Transition]]:
    for i, t in enumerate(config.global_):
        yield f"brain.global[{i}]", t
    for name, node in config.nodes.items():
        for i, t in enumerate(node.transitions):
            yield f"brain.nodes.{name}.transitions[{i}]", t


def _check_references(config: FlowConfig) -> Iterator[str]:
    known = ", ".join(config.nodes)

    def unknown(path: str, target: str | None) -> Iterator[str]:
        if target is not None and target not in config.nodes:
            yield f"{path}: unknown node {target!r} (nodes: {known})"

    yield from unknown("brain.start", config.start)
    yield from unknown("brain.on_fail", config.on_fail)
    for path, t in _transitions(config):
        yield from unknown(f"{path}.to", t.to)
        if t.intent is not None and t.intent not in config.intents:
            names = ", ".join(config.intents) or "none defined"
            yield f"{path}.intent: unknown intent {t.intent!r} (intents: {names})"
    for name, node in config.nodes.items():
        yield from unknown(f"brain.nodes.{name}.next", node.next)
        if node.gather:
            yield from unknown(f"brain.nodes.{name}.gather.on_fail", node.gather.on_fail)


def _check_slots(config: FlowConfig) -> Iterator[str]:
    slots: dict[str, GatherType] = {}
    for name, node in config.nodes.items():
        g = node.gather
        if g and slots.setdefault(g.slot, g.type) != g.type:
            yield (
                f"brain.nodes.{name}.gather.slot: slot {g.slot!r} is gathered elsewhere "
                f"as {slots[g.slot]!r}, here as {g.type!r}"
            )
    for name, node in config.nodes.items():
        texts = {"say": node.say}
        if node.gather:
            texts |= {"gather.prompt": node.gather.prompt, "gather.retry": node.gather.retry}
        for field, text in texts.items():
            yield from _check_template(f"brain.nodes.{name}.{field}", text, slots)
    for path, t in _transitions(config):
        if t.when is not None:
            yield from _check_condition(f"{path}.when", t.when, config)


def _check_template(path: str, text: str | None, slots: dict[str, GatherType]) -> Iterator[str]:
    if not text:
        return
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
    except ValueError as exc:
        yield f"{path}: bad template ({exc}); write literal braces as '{{{{' and '}}}}'"
        return
    for field in fields:
        if field not in slots:
            known = ", ".join(slots) or "none gathered"
            yield f"{path}: placeholder {{{field}}} names no gathered slot (slots: {known})"


def _check_condition(path: str, when: Condition, config: FlowConfig) -> Iterator[str]:
    gathers = {n.gather.slot: n.gather for n in config.nodes.values() if n.gather}
    gather = gathers.get(when.slot)
    if gather is None:
        known = ", ".join(gathers) or "none gathered"
        yield f"{path}.slot: unknown slot {when.slot!r} (slots: {known})"
    elif gather.type == "yes_no" and when.equals.lower() not in ("yes", "no"):
        yield f"{path}.equals: slot {when.slot!r} is yes_no, so compare with 'yes' or 'no'"
    elif gather.choices and when.equals.casefold() not in {c.casefold() for c in gather.choices}:
        yield f"{path}.equals: {when.equals!r} is not one of the choices of {when.slot!r}"


def _check_llm(config: FlowConfig) -> list[str]:
    steps = [name for name, node in config.nodes.items() if node.llm is not None]
    if config.llm is None:
        return [
            f"brain.nodes.{name}.llm: an llm step needs the flow's 'llm' model" for name in steps
        ]
    problem = key_problem(config.llm, "brain.llm")
    return [problem] if problem else []


def _check_shape(config: FlowConfig) -> Iterator[str]:
    seen: dict[str, int] = {}
    for i, entry in enumerate(config.faq):
        question = entry.question.strip().casefold()
        if question in seen:
            yield f"brain.faq[{i}].question: duplicate of brain.faq[{seen[question]}]"
        seen.setdefault(question, i)
    for path, transitions in [("brain.global", config.global_)] + [
        (f"brain.nodes.{n}.transitions", node.transitions) for n, node in config.nodes.items()
    ]:
        keys: dict[tuple[str | None, str | None, str | None], int] = {}
        for i, t in enumerate(transitions):
            key = (
                t.intent or t.key,
                t.when.slot if t.when else None,
                t.when.equals if t.when else None,
            )
            if key in keys:
                yield f"{path}[{i}]: duplicate of {path}[{keys[key]}]"
            keys.setdefault(key, i)
    for name, node in config.nodes.items():
        waits = node.gather is not None or node.llm is not None
        waits = waits or any(t.waits for t in node.transitions)
        if node.gather and not node.next and not any(t.when for t in node.transitions):
            yield f"brain.nodes.{name}: a gather needs 'next' or 'when' transitions"
        if not waits and node.action is None and not node.next and not node.transitions:
            yield f"brain.nodes.{name}: dead end: add 'next', transitions or an action"
    yield from _check_chain_loops(config)


def _check_chain_loops(config: FlowConfig) -> Iterator[str]:
    """Nodes that chain on without waiting for the caller must not loop forever."""
    for start, node in config.nodes.items():
        seen = {start}
        current = node
        while not current.gather and not any(t.waits for t in current.transitions):
            if current.next is None or current.transitions:
                break
            if current.next in seen or current.next not in config.nodes:
                if current.next == start:
                    yield f"brain.nodes.{start}.next: loops back without waiting for the caller"
                break
            seen.add(current.next)
            current = config.nodes[current.next]


def _check_reachable(config: FlowConfig) -> Iterator[str]:
    roots = [config.start, *(t.to for t in config.global_)]
    roots += [config.on_fail] if config.on_fail else []
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        node = config.nodes[name]
        todo += [t.to for t in node.transitions]
        todo += [n for n in (node.next, node.gather and node.gather.on_fail) if n]
    for name in config.nodes:
        if name not in seen:
            yield f"brain.nodes.{name}: unreachable from start {config.start!r} or global"
