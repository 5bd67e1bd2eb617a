"""JSON log lines: context per task, redaction of secrets, caller content, phones and tokens."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from voxplane.errors import ConfigError
from voxplane.observability import (
    REDACTED,
    bind,
    configure_logging,
    current_context,
    log_context,
    redact,
    unbind,
)
from voxplane.observability.logs import redact_text

PASSWORD = "hunter2-correct-horse"
AUTH_HEADER = "Bearer abcdefghijklmnop.qrstuvwx"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2lnbmF0dXJlLWJ5dGVz"
API_KEY = "vxp_Q2hhbmdlTWVQbGVhc2VUaGlzSXNOb3RBUmVhbEtleQ"
PHONE = "+15551234500"


@pytest.fixture
def out() -> Iterator[io.StringIO]:
    """Logs captured as JSON lines; the root and uvicorn loggers are restored afterwards."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    uvicorn = [logging.getLogger(n) for n in ("uvicorn", "uvicorn.error", "uvicorn.access")]
    saved_uvicorn = [(lg, list(lg.handlers), lg.propagate, lg.level) for lg in uvicorn]
    stream = io.StringIO()
    configure_logging("debug", stream=stream)
    yield stream
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    for lg, handlers, propagate, level in saved_uvicorn:
        lg.handlers[:] = handlers
        lg.propagate = propagate
        lg.setLevel(level)


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_line_is_a_json_object_with_core_fields_first(out: io.StringIO) -> None:
    log = logging.getLogger("voxplane.test")
    log.info("call started", extra={"agent": "booking", "turns": 3})
    log.debug("second line")
    first, second = _lines(out)
    assert list(first)[:4] == ["ts", "level", "logger", "msg"]
    assert first["level"] == "info"
    assert first["logger"] == "voxplane.test"
    assert first["msg"] == "call started"
    assert first["agent"] == "booking"
    assert first["turns"] == 3
    assert first["ts"].endswith("Z")
    assert len(first["ts"]) == len("2024-01-01T00:00:00.000Z")
    assert second["level"] == "debug"


def test_extra_fields_cannot_overwrite_core_fields(out: io.StringIO) -> None:
    logging.getLogger("voxplane.test").info("real", extra={"level": "fake", "ts": "x"})
    (line,) = _lines(out)
    assert line["level"] == "info"
    assert line["level_"] == "fake"
    assert line["ts_"] == "x"


def test_context_fields_appear_and_unwind(out: io.StringIO) -> None:
    log = logging.getLogger("voxplane.test")
    with log_context(request_id="r1", tenant_id="t1"):
        with log_context(call_id="c1", tenant_id=None):
            log.info("inner")
        log.info("outer")
    log.info("after")
    inner, outer, after = _lines(out)
    assert inner["request_id"] == "r1"
    assert inner["call_id"] == "c1"
    assert "tenant_id" not in inner
    assert (outer["request_id"], outer["tenant_id"]) == ("r1", "t1")
    assert "call_id" not in outer
    assert "request_id" not in after
    assert current_context() == {}


def test_bind_and_unbind(out: io.StringIO) -> None:
    token = bind(tenant_id="t9")
    logging.getLogger("voxplane.test").info("bound")
    unbind(token)
    logging.getLogger("voxplane.test").info("unbound")
    bound, unbound = _lines(out)
    assert bound["tenant_id"] == "t9"
    assert "tenant_id" not in unbound


def test_context_is_isolated_per_asyncio_task(out: io.StringIO) -> None:
    log = logging.getLogger("voxplane.test")

    async def handle(request_id: str) -> None:
        with log_context(request_id=request_id):
            for step in range(3):
                log.info("step", extra={"owner": request_id, "step": step})
                await asyncio.sleep(0)  # let the other task run in between

    async def main() -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(handle("req-a"))
            group.create_task(handle("req-b"))

    asyncio.run(main())
    lines = [line for line in _lines(out) if line["logger"] == "voxplane.test"]
    assert len(lines) == 6
    assert [line["owner"] for line in lines] != ["req-a"] * 3 + ["req-b"] * 3  # interleaved
    for line in lines:
        assert line["request_id"] == line["owner"]


def test_secrets_in_extra_never_reach_the_output(out: io.StringIO) -> None:
    logging.getLogger("voxplane.test").warning(
        "login failed",
        extra={
            "password": PASSWORD,
            "request": {"headers": {"Authorization": AUTH_HEADER, "X-Trace": "ok"}},
            "items": [{"api_key": "plain-key-value-1"}, {"refresh_token": "plain-refresh-2"}],
            "OpenAI_Secret": "plain-secret-3",
        },
    )
    raw = out.getvalue()
    for secret in (PASSWORD, AUTH_HEADER, "abcdefghijklmnop", "plain-key-value-1",
                   "plain-refresh-2", "plain-secret-3"):  # fmt: skip
        assert secret not in raw
    (line,) = _lines(out)
    assert line["password"] == REDACTED
    assert line["request"]["headers"] == {"Authorization": REDACTED, "X-Trace": "ok"}
    assert line["items"] == [{"api_key": REDACTED}, {"refresh_token": REDACTED}]


def test_secrets_in_context_never_reach_the_output(out: io.StringIO) -> None:
    with log_context(session_token="plain-session-4", tenant_id="t1"):
        logging.getLogger("voxplane.test").info("hello")
    assert "plain-session-4" not in out.getvalue()
    assert _lines(out)[0]["tenant_id"] == "t1"


def test_caller_content_is_redacted(out: io.StringIO) -> None:
    words = "my card number is four four four"
    logging.getLogger("voxplane.test").info(
        "turn", extra={"transcript": words, "turn": {"Text": words, "utterance": words}}
    )
    assert "card number" not in out.getvalue()


def test_phone_numbers_are_masked_in_msg_and_extra(out: io.StringIO) -> None:
    logging.getLogger("voxplane.test").info(
        "inbound call from %s", PHONE,
        extra={"caller": PHONE, "uri": "sip:+4930123456789@pbx.example.com",
               "nested": ["call +44 20 7946 0958 back"]},
    )  # fmt: skip
    raw = out.getvalue()
    for digits in ("5551234500", "30123456789", "2079460958", "7946"):
        assert digits not in raw
    (line,) = _lines(out)
    assert line["msg"] == "inbound call from +1555•••••00"
    assert line["caller"] == "+1555•••••00"
    assert line["uri"] == "sip:+4930•••••••89@pbx.example.com"
    assert line["nested"] == ["call +4420••••••58 back"]


def test_cards_emails_and_ids_are_replaced_as_in_stored_transcripts(out: io.StringIO) -> None:
    logging.getLogger("voxplane.test").warning(
        "payment failed",
        extra={"detail": "card 4111 1111 1111 1111 of ann.lee@example.com, ssn 123-45-6789",
               "client": "127.0.0.1", "call": "cal_01JD1234567000ABCDEFGHJKMN"},
    )  # fmt: skip
    raw = out.getvalue()
    for original in ("4111", "ann.lee", "6789"):
        assert original not in raw
    (line,) = _lines(out)
    assert line["detail"] == "card [card] of [email], ssn [ssn]"
    assert line["client"] == "127.0.0.1"  # addresses and ids are not numbers to hide
    assert line["call"] == "cal_01JD1234567000ABCDEFGHJKMN"


def test_a_request_id_stays_whole_even_when_it_is_all_digits(out: io.StringIO) -> None:
    with log_context(request_id="12345678901234"):
        logging.getLogger("voxplane.test").info("request", extra={"note": "12345678901234"})
    (line,) = _lines(out)
    assert line["request_id"] == "12345678901234"
    assert line["note"] == "[number]"


def test_token_shapes_are_masked_in_msg_and_extra(out: io.StringIO) -> None:
    logging.getLogger("voxplane.test").info(
        "rejected key %s", API_KEY,
        extra={"note": f"jwt={JWT}", "header": AUTH_HEADER,
               "refresh": "x", "provider": "sk-proj-abcdefghijklmnopqrstuvwx"},
    )  # fmt: skip
    raw = out.getvalue()
    for secret in (API_KEY, JWT, "eyJzdWIiOiJ1MSJ9", AUTH_HEADER, "sk-proj-abcdefghijklmnop"):
        assert secret not in raw
    (line,) = _lines(out)
    assert line["msg"] == f"rejected key {REDACTED}"
    assert line["note"] == f"jwt={REDACTED}"


def test_exceptions_are_fields(out: io.StringIO) -> None:
    try:
        raise ConfigError(f"bad number {PHONE}")
    except ConfigError:
        logging.getLogger("voxplane.test").exception("agent load failed")
    (line,) = _lines(out)
    assert line["level"] == "error"
    assert line["exc_type"] == "voxplane.errors.ConfigError"
    assert "Traceback (most recent call last)" in line["exc"]
    assert "test_exceptions_are_fields" in line["exc"]
    assert PHONE not in out.getvalue()


def test_configure_is_idempotent_and_sets_the_level(out: io.StringIO) -> None:
    second = io.StringIO()
    configure_logging("warning", stream=second)
    configure_logging("warning", stream=second)
    log = logging.getLogger("voxplane.test")
    log.info("dropped")
    log.warning("kept")
    assert out.getvalue() == ""
    assert [line["msg"] for line in _lines(second)] == ["kept"]
    with pytest.raises(ConfigError):
        configure_logging("loud")


def test_uvicorn_loggers_go_through_our_handler(out: io.StringIO) -> None:
    logging.getLogger("uvicorn.access").addHandler(logging.NullHandler())
    configure_logging("debug", stream=out)
    logging.getLogger("uvicorn.error").info("server started")
    logging.getLogger("uvicorn.access").info("GET / 200")
    logging.getLogger("uvicorn.access").warning("access warning")
    assert logging.getLogger("uvicorn.access").handlers == []
    assert [line["msg"] for line in _lines(out)] == ["server started", "access warning"]


@dataclass
class Credential:
    provider: str
    api_key: str


def test_redact_walks_values_directly() -> None:
    value = {
        "Cookie": "session=abc",
        "list": ("ok", {"Password": "p"}),
        "model": Credential("openai", "plain-key-5"),
        "count": 3,
        "missing": None,
    }
    assert redact(value) == {
        "Cookie": REDACTED,
        "list": ["ok", {"Password": REDACTED}],
        "model": {"provider": "openai", "api_key": REDACTED},
        "count": 3,
        "missing": None,
    }
    assert redact(f"call {PHONE}") == "call +1555•••••00"
    assert redact("+3 days, 123456 units at 10:30") == "+3 days, 123456 units at 10:30"
    assert redact("+3 days, 1234567 units") == "+3 days, [number] units"  # as in storage
    assert redact("Basic plan, bearer of news") == "Basic plan, bearer of news"
    assert redact("authorization: bearer abcdefgh12") == f"authorization: {REDACTED}"


def test_redact_stops_at_a_depth_limit() -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(20):
        node["next"] = {}
        node = node["next"]
    assert "[too deep]" in json.dumps(redact(deep))


def test_invitation_link_tokens_are_redacted_like_keys() -> None:
    token = "vxi_" + "Q2hhbmdlTWVQbGVhc2VUaGlzSXNOb3RBUmVhbEtleQ"
    assert token not in redact_text(f"accepting {token} now")
