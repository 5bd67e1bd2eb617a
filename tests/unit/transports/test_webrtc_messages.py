"""The data channel's messages from a page, and its flood guard."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voxplane.transports.webrtc.messages import (
    MAX_MESSAGE_CHARS,
    FloodGuard,
    HangupRequest,
    KeysPressed,
    MessageError,
    encode,
    parse,
)


def test_a_page_hangs_up_and_presses_keys() -> None:
    assert parse('{"type": "hangup"}') == HangupRequest()
    assert parse('{"type": "dtmf", "keys": "12#*"}') == KeysPressed("12#*")


@pytest.mark.parametrize(
    "text",
    [
        b'{"type": "hangup"}',
        "not json",
        "[1, 2]",
        '{"type": "speak"}',
        '{"keys": "1"}',
        '{"type": "dtmf", "keys": ""}',
        '{"type": "dtmf", "keys": "12x"}',
        '{"type": "dtmf", "keys": 1}',
        '{"type": "dtmf", "keys": "' + "1" * 33 + '"}',
        '{"type": "hangup", "pad": "' + "x" * MAX_MESSAGE_CHARS + '"}',
        "[" * 1000 + "]" * 0,
        '{"a":' * 200 + "1" + "}" * 200,
    ],
)
def test_anything_else_is_refused(text: str | bytes) -> None:
    with pytest.raises(MessageError):
        parse(text)


@given(st.text(max_size=2 * MAX_MESSAGE_CHARS))
def test_no_text_crashes_the_parser(text: str) -> None:
    with contextlib.suppress(MessageError):
        parse(text)


def test_server_messages_are_compact_json_with_the_type_first() -> None:
    text = encode("transcript", role="user", text="<script>é</script>")
    assert text.startswith('{"type":"transcript"')
    assert json.loads(text) == {"type": "transcript", "role": "user", "text": "<script>é</script>"}


def test_the_flood_guard_allows_a_burst_then_the_rate() -> None:
    guard = FloodGuard(rate=10.0, burst=5.0)
    assert all(guard.allow(0.0) for _ in range(5))
    assert not guard.allow(0.0)
    assert guard.allow(0.1)  # one more token after 100 ms
    assert not guard.allow(0.1)
    assert all(guard.allow(10.0) for _ in range(5))  # refilled to the burst, not beyond
    assert not guard.allow(10.0)
