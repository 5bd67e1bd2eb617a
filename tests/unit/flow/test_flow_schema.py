"""Validation of the ``brain:`` section: every error names the field it is about."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from voxplane.agents.flow import FlowConfig, is_emergency_number
from voxplane.agents.schema import AgentConfig


def base() -> dict[str, Any]:
    return {
        "type": "flow",
        "start": "welcome",
        "intents": {
            "book": {"keywords": ["book"]},
            "human": {"phrases": ["talk to a person"], "keywords": ["person"]},
        },
        "global": [{"intent": "human", "to": "transfer"}],
        "nodes": {
            "welcome": {"say": "Hi!", "transitions": [{"intent": "book", "to": "name"}]},
            "name": {"gather": {"slot": "name", "type": "name", "prompt": "Name?"}, "next": "done"},
            "done": {"say": "Bye {name}.", "action": {"type": "hangup"}},
            "transfer": {"say": "One moment.", "action": {"type": "transfer", "to": "+15550100"}},
        },
    }


def error_of(doc: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        FlowConfig.model_validate(doc)
    return str(info.value)


def test_base_is_valid() -> None:
    config = FlowConfig.model_validate(base())
    assert config.gathered_slots() == {"name": "name"}
    assert config.global_[0].to == "transfer"


def test_example_agent_document_is_valid(acme_doc: dict[str, Any]) -> None:
    agent = AgentConfig.model_validate(acme_doc)
    assert agent.brain.start == "welcome"
    assert agent.call.first_message is not None


def test_unknown_node_in_transition() -> None:
    doc = base()
    doc["nodes"]["welcome"]["transitions"][0]["to"] = "booked2"
    assert (
        "brain.nodes.welcome.transitions[0].to: unknown node 'booked2' "
        "(nodes: welcome, name, done, transfer)"
    ) in error_of(doc)


def test_unknown_start_next_and_on_fail() -> None:
    doc = base()
    doc["start"] = "hello"
    doc["nodes"]["name"]["next"] = "nowhere"
    doc["nodes"]["name"]["gather"]["on_fail"] = "void"
    message = error_of(doc)
    assert "brain.start: unknown node 'hello'" in message
    assert "brain.nodes.name.next: unknown node 'nowhere'" in message
    assert "brain.nodes.name.gather.on_fail: unknown node 'void'" in message


def test_unknown_intent() -> None:
    doc = base()
    doc["global"].append({"intent": "goodbye", "to": "done"})
    assert "brain.global[1].intent: unknown intent 'goodbye' (intents: book, human)" in (
        error_of(doc)
    )


def test_unreachable_node() -> None:
    doc = base()
    doc["nodes"]["orphan"] = {"say": "Nobody hears me.", "action": {"type": "hangup"}}
    assert "brain.nodes.orphan: unreachable from start 'welcome' or global" in error_of(doc)


@pytest.mark.parametrize("number", ["911", "+1 911", "112", "999", "000", "tel:110", "sip:112@x"])
def test_emergency_transfer_is_refused(number: str) -> None:
    doc = base()
    doc["nodes"]["transfer"]["action"]["to"] = number
    message = error_of(doc)
    assert "nodes.transfer.action" in message
    assert "emergency numbers are never dialled by an AI agent" in message


@pytest.mark.parametrize("number", ["+15550100", "+44 20 7946 0958", "sip:frontdesk@pbx.local"])
def test_ordinary_numbers_are_allowed(number: str) -> None:
    assert not is_emergency_number(number)


def test_unknown_slot_placeholder() -> None:
    doc = base()
    doc["nodes"]["done"]["say"] = "See you on {day}, {name}."
    assert "brain.nodes.done.say: placeholder {day} names no gathered slot (slots: name)" in (
        error_of(doc)
    )


def test_bad_template() -> None:
    doc = base()
    doc["nodes"]["welcome"]["say"] = "Hi {name"
    assert "brain.nodes.welcome.say: bad template" in error_of(doc)


def test_node_with_nothing_to_do() -> None:
    doc = base()
    doc["nodes"]["welcome"] = {"transitions": [{"intent": "book", "to": "name"}]}
    message = error_of(doc)
    assert "nodes.welcome" in message
    assert "needs at least one of 'say', 'gather', 'llm' or 'action'" in message


def test_all_errors_reported_at_once() -> None:
    doc = base()
    doc["start"] = "nope"
    doc["nodes"]["done"]["say"] = "{missing}"
    message = error_of(doc)
    assert "brain.start" in message
    assert "brain.nodes.done.say" in message


def test_unknown_field_is_rejected() -> None:
    doc = base()
    doc["nodes"]["welcome"]["sya"] = "typo"
    message = error_of(doc)
    assert "nodes.welcome.sya" in message
    assert "Extra inputs are not permitted" in message


def test_duplicates() -> None:
    doc = base()
    doc["faq"] = [
        {"question": "Hours?", "answer": "9-5"},
        {"question": "hours?", "answer": "9 to 5"},
    ]
    doc["nodes"]["welcome"]["transitions"].append({"intent": "book", "to": "done"})
    message = error_of(doc)
    assert "brain.faq[1].question: duplicate of brain.faq[0]" in message
    assert (
        "brain.nodes.welcome.transitions[1]: duplicate of brain.nodes.welcome.transitions[0]"
        in (message)
    )


def test_slot_gathered_with_two_types() -> None:
    doc = base()
    doc["nodes"]["name"]["next"] = "again"
    doc["nodes"]["again"] = {"gather": {"slot": "name", "type": "digits"}, "next": "done"}
    assert "brain.nodes.again.gather.slot: slot 'name' is gathered elsewhere as 'name'" in (
        error_of(doc)
    )


def test_condition_checks() -> None:
    doc = base()
    doc["nodes"]["name"] = {
        "gather": {"slot": "ok", "type": "yes_no"},
        "transitions": [
            {"when": {"slot": "ok", "equals": "maybe"}, "to": "done"},
            {"when": {"slot": "nope", "equals": "yes"}, "to": "done"},
        ],
    }
    doc["nodes"]["done"]["say"] = "Bye."
    message = error_of(doc)
    assert "brain.nodes.name.transitions[0].when.equals: slot 'ok' is yes_no" in message
    assert "brain.nodes.name.transitions[1].when.slot: unknown slot 'nope'" in message


def test_gather_without_route() -> None:
    doc = base()
    del doc["nodes"]["name"]["next"]
    assert "brain.nodes.name: a gather needs 'next' or 'when' transitions" in error_of(doc)


def test_chain_loop() -> None:
    doc = base()
    doc["nodes"]["welcome"] = {"say": "Hi", "next": "loop"}
    doc["nodes"]["loop"] = {"say": "Again", "next": "welcome"}
    doc["nodes"]["done"]["say"] = "Bye."
    del doc["nodes"]["name"]
    assert "loops back without waiting for the caller" in error_of(doc)


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ({"type": "yes_no", "min_length": 4}, "min_length/max_length only apply to type 'digits'"),
        ({"type": "digits", "min_length": 5, "max_length": 4}, "min_length 5 > max_length 4"),
        ({"type": "date", "choices": ["a"]}, "choices only apply to type 'name'"),
        ({"type": "name", "choices": ["Ann", "ann"]}, "choices: duplicate 'ann'"),
        ({"type": "shoe_size"}, "nodes.name.gather.type"),
    ],
)
def test_gather_field_checks(patch: dict[str, Any], expected: str) -> None:
    doc = copy.deepcopy(base())
    doc["nodes"]["name"]["gather"] = {"slot": "name", **patch}
    assert expected in error_of(doc)


def test_action_shape() -> None:
    doc = base()
    doc["nodes"]["done"]["action"] = {"type": "transfer"}
    assert "a transfer action needs 'to'" in error_of(doc)
    doc["nodes"]["done"]["action"] = {"type": "hangup", "to": "+15550100"}
    assert "a hangup action has no 'to'" in error_of(doc)
    doc = base()
    doc["nodes"]["done"]["next"] = "welcome"
    assert "a node with an 'action' ends the call" in error_of(doc)


def test_transition_needs_one_trigger() -> None:
    doc = base()
    doc["nodes"]["welcome"]["transitions"] = [{"to": "name"}]
    assert "exactly one of 'intent' or 'when'" in error_of(doc)


def test_global_transitions_need_an_intent() -> None:
    doc = base()
    doc["global"] = [{"when": {"slot": "name", "equals": "x"}, "to": "transfer"}]
    assert "brain.global[0]: global transitions need an 'intent'" in error_of(doc)


def test_config_is_frozen() -> None:
    config = FlowConfig.model_validate(base())
    with pytest.raises(ValidationError):
        config.start = "name"
