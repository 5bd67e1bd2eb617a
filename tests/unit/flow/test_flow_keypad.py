"""Keypad entry in a flow: a digits gather takes keys (ending on ``#`` or at its length,
mixed with spoken digits), and a transition can be taken by a key ("press 1")."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import ValidationError

from voxplane.agents.flow import FlowConfig
from voxplane.providers.base import TextChunk
from voxplane.providers.flow import FlowBrain

FLOW: dict[str, Any] = {
    "type": "flow",
    "start": "menu",
    "intents": {"billing": {"phrases": ["billing", "a bill"]}},
    "nodes": {
        "menu": {
            "say": "For billing press 1, for your account press 2.",
            "transitions": [
                {"intent": "billing", "key": "1", "to": "billing"},
                {"key": "2", "to": "account"},
            ],
        },
        "billing": {"say": "Billing here.", "action": {"type": "hangup"}},
        "account": {
            "gather": {"slot": "number", "type": "digits", "min_length": 4, "max_length": 6,
                       "prompt": "Enter or say your account number, then pound."},
            "next": "found",
        },
        "found": {"say": "Account {number} found.", "action": {"type": "hangup"}},
    },
}  # fmt: skip


def said(brain: FlowBrain, text: str) -> str:
    async def run() -> str:
        return " ".join([e.text async for e in brain.respond(text) if isinstance(e, TextChunk)])

    return asyncio.run(run())


def at_account() -> FlowBrain:
    brain = FlowBrain(FlowConfig.model_validate(FLOW))
    entry = brain.on_dtmf("2")
    assert entry == "2"
    assert said(brain, entry) == "Enter or say your account number, then pound."
    return brain


def press(brain: FlowBrain, keys: str) -> list[str | None]:
    return [brain.on_dtmf(key) for key in keys]


def test_press_1_takes_the_keyed_transition_and_other_keys_do_nothing() -> None:
    brain = FlowBrain(FlowConfig.model_validate(FLOW))
    assert press(brain, "9*#") == [None, None, None]  # no transition takes them
    assert brain.on_dtmf("1") == "1"
    assert said(brain, "1") == "Billing here."
    assert brain.engine.ended


def test_saying_the_intent_still_works_beside_the_key() -> None:
    brain = FlowBrain(FlowConfig.model_validate(FLOW))
    assert said(brain, "It's about a bill") == "Billing here."


def test_digits_end_on_pound() -> None:
    brain = at_account()
    assert press(brain, "4271#") == [None, None, None, None, "4271"]
    assert said(brain, "4271") == "Account 4271 found."


def test_digits_end_at_the_expected_length() -> None:
    brain = at_account()
    assert press(brain, "123456") == [None] * 5 + ["123456"]
    assert said(brain, "123456") == "Account 123456 found."


def test_star_starts_the_keyed_part_over() -> None:
    brain = at_account()
    assert press(brain, "99*4271#")[-1] == "4271"


def test_spoken_digits_then_keys() -> None:
    brain = at_account()
    assert said(brain, "four two") != "Account 42 found."  # too short: asked again
    assert brain.engine.partial_digits == "42"
    assert press(brain, "71#") == [None, None, "4271"]
    assert said(brain, "4271") == "Account 4271 found."


def test_keys_then_spoken_digits() -> None:
    brain = at_account()
    assert press(brain, "42") == [None, None]
    assert said(brain, "seven one") == "Account 4271 found."


@pytest.mark.parametrize(
    "transition",
    [
        {"key": "1", "when": {"slot": "number", "equals": "1"}, "to": "billing"},
        {"key": "x", "to": "billing"},
        {"key": "12", "to": "billing"},
    ],
)
def test_bad_key_transitions_are_refused(transition: dict[str, Any]) -> None:
    doc = {**FLOW, "nodes": {**FLOW["nodes"], "menu": {"say": "Hi.", "transitions": [transition]}}}
    with pytest.raises(ValidationError):
        FlowConfig.model_validate(doc)
