"""The flow engine: walks a :class:`FlowConfig` one caller utterance at a time.

Pure and synchronous: text in, :class:`FlowReply` out, no I/O and no clock. One engine per
call; it holds the current node, the filled slots and the retry count.

What happens to an utterance at a node, in order:

1. while a name / free text / yes-no is asked, a strong request for a global intent that
   clearly is not the answer ("can I just talk to a person?") and questions the FAQ can
   answer come first;
2. the node's gather: a value fills the slot, then a ``when`` transition or ``next``;
3. the node's intent transitions, then the global ones;
4. an FAQ answer, followed by the node's question again;
5. without a gather, ``next`` is the fallback route;
6. otherwise a retry prompt; after ``max_retries`` the ``on_fail`` node (or goodbye).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from voxplane.agents.flow import FlowConfig, Gather, LlmStep, Node, Transition
from voxplane.providers.base import HangUp, SttHint, Transfer
from voxplane.providers.flow.faq import FaqIndex
from voxplane.providers.flow.intents import IntentMatcher
from voxplane.providers.flow.slots import digits_complete, extract, extract_digits, has_name_prefix
from voxplane.providers.flow.text import tokens, wordset
from voxplane.providers.turn_end import text_turn_complete

MAX_FIXED_REPLIES = 200
"""At most this many fixed replies of one flow are pre-synthesized."""
_BLANK = "\x00"
"""Stands for a slot's value while fixed replies are listed: a reply holding it is not fixed."""

DIGITS_PROMPT = "Eight, three, three. Zero, two, one, nine. Four, seven, six."
"""Whisper prompt for digits: number words, comma-separated, short groups with a repeat.

Chosen with ``bench/tune_digits.py`` on FSDD phone-path audio (tiny.en), best of the 11
prompts tried on two dev samples: 99.7 % / 99.0 % of digits (previous prompt 98.8 % /
97.3 %, none 90 %); held-out takes 95.0 % (previous 94.7 %, none 81.8 %).
"""
YES_NO_PROMPT = "Yes. No. Yeah, that's right."
DATE_PROMPT = "Tuesday at 10:30 am."
TIME_PROMPT = "Tuesday at 10:30 am."
STRONG_INTENT = 90.0
"""Score at which a global intent interrupts a name / free-text / yes-no question."""
_HINTS: dict[str, SttHint] = {
    "digits": SttHint("digits", DIGITS_PROMPT),
    "yes_no": SttHint("yes_no", YES_NO_PROMPT, ("yes", "no")),
    "name": SttHint("name"),
    "date": SttHint("date", DATE_PROMPT),
    "time": SttHint("time", TIME_PROMPT),
    "free_text": SttHint("free_text"),
}
_QUESTION_WORDS = wordset(
    "what when where why how who which do does did is are can could will would should"
)
_REPLY_WORDS = wordset(
    # refusing or not having it: "no", "I don't have it", "I'd rather not say", "none"
    "no nope nah not never none "
    # "No." as Whisper writes it under the digits prompt
    "now "
    # asking to hear it again, or whether anyone is there: "repeat that", "pardon", "hello"
    "repeat again pardon sorry what huh hello"
)
"""Words that make a reply to a number question something to answer, not a number started."""
MAX_FRAGMENT_WORDS = 3
"""At most this many words with no digits may be a misheard start of a number ("Nice."
for "nine", "All right." for "eight"); a longer reply is a sentence, judged as one."""


@dataclass(frozen=True, slots=True)
class FlowReply:
    """What the agent says for one turn, and what the call does after saying it."""

    text: str
    action: HangUp | Transfer | None = None


class _Slots(dict[str, str]):
    """Template values: a slot not filled yet renders as nothing."""

    def __missing__(self, key: str) -> str:
        return ""


@dataclass(frozen=True, slots=True)
class FlowState:
    """Where a conversation is: for taking a turn back."""

    slots: dict[str, str]
    node: str
    retries: int
    ended: bool


class FlowEngine:
    """Runs one conversation through a flow. Call :meth:`start`, then :meth:`handle`."""

    def __init__(self, config: FlowConfig) -> None:
        self._config = config
        self._intents = IntentMatcher(config.intents, config.intent_threshold)
        self._faq = FaqIndex(config.faq, config.faq_min_score)
        self._slots: dict[str, str] = {}
        self._node = config.start
        self._retries = 0
        self._ended = False
        self._partial = ""  # digits said so far toward the current digits gather

    @property
    def slots(self) -> Mapping[str, str]:
        """Slots filled so far (read-only)."""
        return MappingProxyType(self._slots)

    @property
    def node(self) -> str:
        """Name of the current node."""
        return self._node

    @property
    def ended(self) -> bool:
        """True once a node with an action (hang up / transfer) was entered."""
        return self._ended

    def start(self, greeting: str | None = None) -> FlowReply:
        """Enter the start node. ``greeting`` replaces what the start node itself says."""
        self._slots.clear()
        self._ended = False
        return self._enter(self._config.start, greeting)

    def handle(self, user_text: str) -> FlowReply:
        """The agent's reply to one caller utterance."""
        if self._ended:
            return FlowReply("")
        node = self._config.nodes[self._node]
        steps: tuple[Callable[[Node, str], FlowReply | None], ...] = (
            self._keypress,
            self._interruption,
            self._gather,
            self._node_intent,
            self._global_intent,
            self._faq_answer,
            self._fallback_next,
        )
        for step in steps:
            reply = step(node, user_text)
            if reply is not None:
                return reply
        return self._retry(node)

    @classmethod
    def fixed_replies(cls, config: FlowConfig, greeting: str | None = None) -> list[str]:
        """Every reply of the flow that does not depend on what the caller said: the
        greeting, what entering each node says, each node's retry prompt, the goodbye when
        retries run out, and FAQ answers followed by each question; the first
        ``MAX_FIXED_REPLIES``, in that order. Replies that name a slot are left out.

        For pre-synthesis when the agent is loaded; no conversation is touched."""
        replies: list[str] = []
        for node_name in (None, *config.nodes):  # None: the call connects
            engine = cls._blank(config)
            reply = engine.start(greeting) if node_name is None else engine._enter(node_name)
            replies.append(reply.text)
        waiting = [
            (name, node)
            for name, node in config.nodes.items()
            if node.gather is not None or any(t.waits for t in node.transitions)
        ]
        for name, node in waiting:
            engine = cls._blank(config)
            engine._node = name
            replies.append(engine._retry(node).text)
        replies.append(config.messages.give_up)
        scratch = cls._blank(config)
        for entry in config.faq:
            for _name, node in waiting:
                question = _lower_first(scratch._question(node))
                resume = f" {config.messages.faq_resume} {question}" if question else ""
                replies.append(f"{entry.answer}{resume}")
        fixed = [text for text in replies if text and _BLANK not in text]
        return list(dict.fromkeys(fixed))[:MAX_FIXED_REPLIES]

    @classmethod
    def _blank(cls, config: FlowConfig) -> FlowEngine:
        """An engine whose every slot holds :data:`_BLANK`: it takes the same path as with
        no slots filled (no ``when`` matches it), and what it says shows any slot used."""
        engine = cls(config)
        engine._slots = dict.fromkeys(config.gathered_slots(), _BLANK)
        return engine

    @property
    def llm_step(self) -> LlmStep | None:
        """The current node's LLM step, if it is one."""
        return None if self._ended else self._config.nodes[self._node].llm

    def step_done(self) -> FlowReply:
        """The LLM step is over: on to the node's ``next``."""
        following = self._config.nodes[self._node].next
        assert following is not None  # the schema requires it on llm steps
        return self._enter(following)

    @property
    def gather(self) -> Gather | None:
        """What the current node gathers, if anything."""
        return None if self._ended else self._config.nodes[self._node].gather

    @property
    def partial_digits(self) -> str:
        """Digits the caller said toward the current digits gather, too few to fill it:
        keys pressed next complete them."""
        return self._partial

    def takes_key(self, key: str) -> bool:
        """Whether pressing ``key`` now takes a transition ("press 1")."""
        return not self._ended and self._key_target(key) is not None

    def snapshot(self) -> FlowState:
        """The conversation state, to :meth:`restore` later."""
        return FlowState(dict(self._slots), self._node, self._retries, self._ended)

    def restore(self, state: FlowState) -> None:
        self._slots = dict(state.slots)
        self._node, self._retries, self._ended = state.node, state.retries, state.ended
        self._partial = ""

    def expected(self) -> SttHint | None:
        """What the current node expects to hear, to bias speech-to-text."""
        gather = self._config.nodes[self._node].gather
        if self._ended or gather is None:
            return None
        if gather.type == "name" and gather.choices:
            return SttHint("name", ", ".join(gather.choices) + ".", gather.choices)
        return _HINTS[gather.type]

    def turn_complete(self, text: str) -> bool:
        """Whether ``text`` completes what the current node waits for.

        Digits: the digit count against ``min_length``/``max_length`` and how the string
        stops; words with no digits at all, see :meth:`_digitless_complete`. Yes/no, names,
        dates and times: the slot is understood. Otherwise (free text, no gather, or words
        that are not the expected answer): the text estimate.
        """
        node = self._config.nodes[self._node]
        gather = None if self._ended else node.gather
        if gather is None or gather.type == "free_text":
            return text_turn_complete(text)
        if gather.type == "digits":
            done = digits_complete(text, gather.min_length, gather.max_length)
            if done is None and gather.min_length is not None:
                return self._digitless_complete(node, text)
            return text_turn_complete(text) if done is None else done
        return extract(gather, text) is not None or text_turn_complete(text)

    def _digitless_complete(self, node: Node, text: str) -> bool:
        """Words with no digits where a number of known length is expected.

        A reply the node answers is complete: a question ("What?", "Where do I find
        it?"), a refusal or a request to repeat ("I don't have it", "repeat that"), an
        intent or FAQ match. A longer reply is a sentence: the text estimate. Anything else
        short ("Nice.", "All right.", "Okay, um") is taken for the start of the number,
        misheard or announced, and held: if the caller stays quiet, the wait ends in the
        same retry prompt that answering at once would have given.
        """
        words = tokens(text)
        if not words or _is_question(text) or not _REPLY_WORDS.isdisjoint(words):
            return True
        names = [t.intent for t in (*node.transitions, *self._config.global_) if t.intent]
        if names and self._intents.match(text, names) is not None:
            return True
        if self._faq.search(text) is not None:
            return True
        return len(words) > MAX_FRAGMENT_WORDS and text_turn_complete(text)

    # --- steps ---------------------------------------------------------------------------

    def _interruption(self, node: Node, text: str) -> FlowReply | None:
        gather = node.gather
        if gather is None or gather.type not in ("name", "free_text", "yes_no"):
            return None
        if gather.type == "name" and has_name_prefix(text):
            return None
        match = self._intents.match(text, [t.intent for t in self._config.global_ if t.intent])
        if match is not None and match.score >= STRONG_INTENT:
            target = _target(self._config.global_, match.name)
            # a yes/no answer wins unless the caller asks for a person
            if gather.type != "yes_no" or self._is_transfer(target):
                return self._enter(target)
        if _is_question(text):
            return self._faq_answer(node, text)
        return None

    def _keypress(self, node: Node, text: str) -> FlowReply | None:
        target = self._key_target(text.strip().rstrip("."))
        return self._enter(target) if target else None

    def _key_target(self, key: str) -> str | None:
        if len(key) != 1:
            return None
        for t in (*self._config.nodes[self._node].transitions, *self._config.global_):
            if t.key == key:
                return t.to
        return None

    def _gather(self, node: Node, text: str) -> FlowReply | None:
        if node.gather is None:
            return None
        value = extract(node.gather, text)
        if value is None:
            if node.gather.type == "digits":
                said = extract_digits(text) or ""
                self._partial = said if len(said) < (node.gather.min_length or 1) else ""
            return None
        self._slots[node.gather.slot] = value
        target = self._when_target(node) or node.next
        return self._enter(target) if target else None

    def _node_intent(self, node: Node, text: str) -> FlowReply | None:
        return self._intent_route(node.transitions, text)

    def _global_intent(self, node: Node, text: str) -> FlowReply | None:
        return self._intent_route(self._config.global_, text)

    def _faq_answer(self, node: Node, text: str) -> FlowReply | None:
        hit = self._faq.search(text)
        if hit is None:
            return None
        question = _lower_first(self._question(node))
        resume = f" {self._config.messages.faq_resume} {question}" if question else ""
        return FlowReply(f"{hit.answer}{resume}")

    def _fallback_next(self, node: Node, text: str) -> FlowReply | None:
        if node.gather is None and node.next:
            return self._enter(node.next)
        return None

    def _retry(self, node: Node) -> FlowReply:
        gather = node.gather
        self._retries += 1
        limit = gather.max_retries if gather else self._config.max_retries
        if self._retries > limit:
            target = (gather.on_fail if gather else None) or self._config.on_fail
            if target:
                return self._enter(target)
            self._ended = True
            return FlowReply(self._config.messages.give_up, HangUp("not_understood"))
        if gather and gather.retry:
            return FlowReply(self._render(gather.retry))
        text = f"{self._config.messages.not_understood} {self._question(node)}"
        return FlowReply(text.strip())

    # --- helpers -------------------------------------------------------------------------

    def _enter(self, name: str, greeting: str | None = None) -> FlowReply:
        """Enter ``name`` and chain through nodes that do not wait for the caller."""
        parts: list[str] = []
        seen: set[str] = set()
        while True:
            self._node, self._retries, self._partial = name, 0, ""
            node = self._config.nodes[name]
            if greeting is not None:
                parts.append(greeting)
                greeting = None
            else:
                prompt = node.gather.prompt if node.gather else None
                parts += [self._render(node.say), self._render(prompt)]
            if node.action is not None:
                self._ended = True
                action = node.action
                event = Transfer(action.to) if action.type == "transfer" and action.to else HangUp()
                return FlowReply(_join(parts), event)
            if node.gather is not None or node.llm is not None:
                break
            waits = any(t.waits for t in node.transitions)
            target = self._when_target(node) or (None if waits else node.next)
            if target is None or target in seen:
                break
            seen.add(name)
            name = target
        return FlowReply(_join(parts))

    def _intent_route(self, transitions: tuple[Transition, ...], text: str) -> FlowReply | None:
        names = [t.intent for t in transitions if t.intent]
        match = self._intents.match(text, names) if names else None
        return self._enter(_target(transitions, match.name)) if match else None

    def _when_target(self, node: Node) -> str | None:
        for t in node.transitions:
            if t.when and self._slots.get(t.when.slot, "").casefold() == t.when.equals.casefold():
                return t.to
        return None

    def _is_transfer(self, name: str) -> bool:
        action = self._config.nodes[name].action
        return action is not None and action.type == "transfer"

    def _question(self, node: Node) -> str:
        if node.gather and node.gather.prompt:
            return self._render(node.gather.prompt)
        return self._render(node.say)

    def _render(self, template: str | None) -> str:
        return template.format_map(_Slots(self._slots)) if template else ""


def _target(transitions: tuple[Transition, ...], intent: str) -> str:
    return next(t.to for t in transitions if t.intent == intent)


def _join(parts: list[str]) -> str:
    return " ".join(p.strip() for p in parts if p and p.strip())


def _lower_first(text: str) -> str:
    first = text.split(" ", 1)[0]
    if not text or first == "I" or first.startswith("I'") or first[1:2].isupper():
        return text
    return text[0].lower() + text[1:]


def _is_question(text: str) -> bool:
    words = tokens(text)
    return text.rstrip().endswith("?") or bool(words and words[0] in _QUESTION_WORDS)
