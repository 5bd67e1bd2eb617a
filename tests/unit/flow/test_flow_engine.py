"""Walks of the acme-dental flow, one caller utterance at a time."""

from __future__ import annotations

from typing import Any

import pytest

from voxplane.agents.flow import FlowConfig
from voxplane.providers.base import HangUp, SttHint, Transfer
from voxplane.providers.flow.engine import DIGITS_PROMPT, YES_NO_PROMPT, FlowEngine, FlowReply

TRANSFER = Transfer("+15550100")


@pytest.fixture
def engine(acme: FlowConfig) -> FlowEngine:
    engine = FlowEngine(acme)
    engine.start()
    return engine


def walk(engine: FlowEngine, *said: str) -> FlowReply:
    reply = FlowReply("")
    for text in said:
        reply = engine.handle(text)
    return reply


def test_start_says_the_start_node(acme: FlowConfig) -> None:
    engine = FlowEngine(acme)
    assert engine.start() == FlowReply("How can I help you today?")
    assert engine.node == "welcome"
    assert engine.expected() is None


def test_greeting_replaces_start_text_but_keeps_the_node(acme: FlowConfig) -> None:
    engine = FlowEngine(acme)
    assert engine.start("Acme Dental, hello!").text == "Acme Dental, hello!"
    assert engine.handle("I'd like to book a cleaning").text.startswith("Happy to book")


def test_booking_conversation_reaches_booked(engine: FlowEngine) -> None:
    reply = engine.handle("Hi, yeah, I'd like to book a cleening.")
    assert reply.text == "Happy to book a cleaning. Are you an existing patient with us?"
    assert engine.expected() == SttHint("yes_no", YES_NO_PROMPT, ("yes", "no"))

    assert engine.handle("Yeah.").text == "What's your four-digit patient number?"
    assert engine.expected() == SttHint("digits", DIGITS_PROMPT)

    assert engine.handle("It's four two seven one.").text == (
        "What name should the booking be under?"
    )
    assert engine.handle("My name is Sarah Johnson.").text.startswith("What day would suit")
    assert engine.expected() is not None
    assert engine.handle("Next Tuesday, please.").text == "And what time would you like?"
    confirm = engine.handle("Ten thirty in the morning.")
    assert confirm.text == (
        "So that's a cleaning for Sarah Johnson, next Tuesday, at 10:30 AM. Shall I book it?"
    )
    assert engine.node == "confirm"

    booked = engine.handle("Yes please.")
    assert booked.text.startswith("You're all set, Sarah Johnson.")
    assert booked.action is None
    assert dict(engine.slots) == {
        "existing": "yes",
        "patient_number": "4271",
        "name": "Sarah Johnson",
        "day": "next Tuesday",
        "time": "10:30 AM",
        "confirmed": "yes",
    }

    end = engine.handle("No, that's all, thanks.")
    assert end == FlowReply("Thanks for calling Acme Dental. Goodbye!", HangUp())
    assert engine.ended
    assert engine.expected() is None
    assert engine.handle("hello?") == FlowReply("")


def test_new_patient_skips_patient_number(engine: FlowEngine) -> None:
    reply = walk(engine, "book an appointment", "No, I'm new.")
    assert reply.text == "What name should the booking be under?"
    assert "patient_number" not in engine.slots


def test_declining_the_confirmation_asks_for_another_day(engine: FlowEngine) -> None:
    walk(engine, "book", "no", "Tom Baker", "Friday", "2 pm")
    reply = engine.handle("No, that's not right.")
    assert reply.text == (
        "No problem, let's find another time. What day would suit you? We're open Monday to Friday."
    )
    assert engine.node == "book_day"
    assert engine.slots["confirmed"] == "no"


def test_transfer_request_while_asked_for_a_name(engine: FlowEngine) -> None:
    walk(engine, "book", "no")
    assert engine.node == "book_name"
    reply = engine.handle("Can I just talk to a person?")
    assert reply == FlowReply("Let me put you through to a colleague.", TRANSFER)
    assert engine.ended


def test_transfer_request_while_asked_yes_no(engine: FlowEngine) -> None:
    walk(engine, "book")
    reply = engine.handle("No, I'd rather speak to the receptionist.")
    assert reply.action == TRANSFER


def test_transfer_request_while_asked_for_digits(engine: FlowEngine) -> None:
    walk(engine, "book", "yes")
    assert engine.handle("Operator.").action == TRANSFER


def test_a_name_given_explicitly_is_not_a_transfer(engine: FlowEngine) -> None:
    walk(engine, "book", "no")
    engine.handle("My name is Someone Else.")
    assert engine.slots["name"] == "Someone Else"


def test_faq_mid_flow_then_continues(engine: FlowEngine) -> None:
    walk(engine, "book", "no")
    reply = engine.handle("Sorry, what are your opening hours?")
    assert reply == FlowReply(
        "We're open Monday to Friday, 8 am to 5 pm. Now, what name should the booking be under?"
    )
    assert engine.node == "book_name"
    assert "name" not in engine.slots
    engine.handle("Alex Kim")
    assert engine.slots["name"] == "Alex Kim"


def test_faq_at_the_start_repeats_the_opening_question(engine: FlowEngine) -> None:
    reply = engine.handle("Do you take my insurance?")
    assert reply.text.startswith("We accept most major dental plans")
    assert reply.text.endswith("Now, how can I help you today?")
    assert engine.node == "welcome"


def test_faq_while_asked_for_digits(engine: FlowEngine) -> None:
    walk(engine, "book", "yes")
    reply = engine.handle("Where are you located?")
    assert reply.text.startswith("We're at 120 Main Street")
    assert reply.text.endswith("Now, what's your four-digit patient number?")


def test_retries_then_on_fail(engine: FlowEngine) -> None:
    walk(engine, "book", "yes")
    retry = "Sorry, I need the four digits of your patient number, one at a time."
    assert engine.handle("Uh, I don't remember.") == FlowReply(retry)
    assert engine.handle("four two") == FlowReply(retry)
    reply = engine.handle("Hmm.")
    assert reply.text == (
        "No problem, we'll look you up when you come in. What name should the booking be under?"
    )
    assert engine.node == "book_name"
    assert "patient_number" not in engine.slots


def test_retry_counter_resets_on_a_new_node(engine: FlowEngine) -> None:
    walk(engine, "book", "yes", "blah", "blah", "4271")
    assert engine.handle("?") == FlowReply("Sorry, could you tell me the name for the booking?")


def test_default_retry_and_flow_on_fail_at_a_node_without_gather(engine: FlowEngine) -> None:
    default = FlowReply("Sorry, I didn't catch that. How can I help you today?")
    assert engine.handle("The weather is nice.") == default
    assert engine.handle("Hmm.") == default
    reply = engine.handle("Purple.")
    assert reply.action == TRANSFER
    assert reply.text.startswith("I'm having trouble understanding")


def test_goodbye_hangs_up(engine: FlowEngine) -> None:
    assert engine.handle("Actually, never mind. Bye!") == FlowReply(
        "Thanks for calling Acme Dental. Goodbye!", HangUp()
    )


def test_reschedule_goes_to_a_person(engine: FlowEngine) -> None:
    assert engine.handle("I need to move my appointment").action == TRANSFER


def test_give_up_without_on_fail_hangs_up() -> None:
    config = FlowConfig.model_validate(
        {
            "type": "flow",
            "start": "ask",
            "nodes": {
                "ask": {
                    "gather": {"slot": "pin", "type": "digits", "prompt": "Your PIN?"},
                    "next": "done",
                },
                "done": {"say": "Thanks, {pin}.", "action": {"type": "hangup"}},
            },
        }
    )
    engine = FlowEngine(config)
    assert engine.start().text == "Your PIN?"
    assert walk(engine, "no", "no").text == "Sorry, I didn't catch that. Your PIN?"
    reply = engine.handle("no")
    assert reply.action == HangUp("not_understood")
    assert reply.text.startswith("I'm sorry")


def test_say_and_next_nodes_chain(acme_doc: dict[str, Any]) -> None:
    config = FlowConfig.model_validate(
        {
            "type": "flow",
            "start": "a",
            "nodes": {
                "a": {"say": "One.", "next": "b"},
                "b": {"say": "Two.", "next": "c"},
                "c": {"say": "Three.", "action": {"type": "hangup"}},
            },
        }
    )
    assert FlowEngine(config).start() == FlowReply("One. Two. Three.", HangUp())


def test_choices_hint_and_routing() -> None:
    config = FlowConfig.model_validate(
        {
            "type": "flow",
            "start": "who",
            "nodes": {
                "who": {
                    "gather": {
                        "slot": "dentist",
                        "type": "name",
                        "prompt": "Which dentist?",
                        "choices": ["Dr. Smith", "Dr. Patel"],
                    },
                    "transitions": [
                        {"when": {"slot": "dentist", "equals": "Dr. Patel"}, "to": "p"}
                    ],
                    "next": "s",
                },
                "p": {"say": "Patel it is, {dentist}.", "action": {"type": "hangup"}},
                "s": {"say": "Smith it is.", "action": {"type": "hangup"}},
            },
        }
    )
    engine = FlowEngine(config)
    engine.start()
    assert engine.expected() == SttHint("name", "Dr. Smith, Dr. Patel.", ("Dr. Smith", "Dr. Patel"))
    assert engine.handle("doctor patel please").text == "Patel it is, Dr. Patel."


def test_restoring_a_snapshot_takes_a_turn_back(engine: FlowEngine) -> None:
    walk(engine, "I'd like to book a cleaning", "yes")
    before = engine.snapshot()
    assert engine.node == "patient_number"
    walk(engine, "four two")  # half a number: a retry
    engine.restore(before)
    assert engine.node == "patient_number"
    reply = engine.handle("four two. seven one.")
    assert engine.slots["patient_number"] == "4271"
    assert engine.node == "book_name" and "name" in reply.text
