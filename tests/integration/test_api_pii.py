"""Caller PII in call records under each PII policy, on SQLite and PostgreSQL.

The stored row is read straight from the database, not only through the API, and the log
lines written while the call is recorded are read as JSON, as an operator would see them.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from test_api_resources import _agent

from conftest import Tenant
from voxplane.observability import configure_logging
from voxplane.services.calls import LARGE_TRANSCRIPT_CHARS
from voxplane.settings import Settings
from voxplane.store.db import Database

CARD = "4111 1111 1111 1111"
EMAIL = "maria.lopez@example.com"
SPOKEN_EMAIL = "maria dot lopez at example dot com"
PHONE = "(415) 555-0123"
FROM, TO = "+14155550199", "+442079460958"
ORIGINALS = (CARD, "4111111111111111", EMAIL, "maria dot lopez", PHONE, "555-0123", FROM, TO)


def _call(agent_id: str) -> dict[str, Any]:
    start = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    said = [
        f"My card is {CARD}, expiring 12/27.",
        f"Email me at {EMAIL} or {SPOKEN_EMAIL}.",
        f"Call me back on {PHONE}, patient number 4271, at 10:30 on 2026-11-24.",
    ]
    return {
        "agent_id": agent_id,
        "transport": "sip",
        "from_number": FROM,
        "to_number": TO,
        "started_at": start.isoformat(),
        "ended_at": (start + timedelta(seconds=40)).isoformat(),
        "end_reason": "caller_hangup",
        "turns": [
            {"role": "user", "text": line, "start_ms": 1000 * i, "end_ms": 1000 * i + 900}
            for i, line in enumerate(said)
        ],
    }


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """Every log line, at debug level, as the JSON the formatter writes."""
    names = ("", "uvicorn", "uvicorn.error", "uvicorn.access")  # what configure_logging changes
    touched = [logging.getLogger(name) for name in names]
    saved = [(lg, list(lg.handlers), lg.propagate, lg.level) for lg in touched]
    stream = io.StringIO()
    configure_logging("debug", stream=stream)
    yield stream
    for lg, handlers, propagate, level in saved:
        lg.handlers[:] = handlers
        lg.propagate = propagate
        lg.setLevel(level)


def _stored(settings: Settings, call_id: str) -> str:
    """The call's row as the database holds it, every column as text."""

    async def read() -> str:
        db = Database(settings.database)
        try:
            query = text("SELECT * FROM calls WHERE id = :id").bindparams(id=call_id)
            row = (await db.read(lambda c: c.execute(query))).mappings().one()
            return json.dumps({k: str(v) for k, v in row.items()})
        finally:
            await db.aclose()

    return asyncio.run(read())


def test_redact_policy_stores_placeholders_and_masked_numbers(
    client: TestClient,
    settings: Settings,
    new_tenant: Callable[..., Tenant],
    logs: io.StringIO,
) -> None:
    tenant = new_tenant()  # the default policy is redact
    body = _call(_agent(client, tenant))
    answered = client.post("/v1/calls", json=body, headers=tenant.auth)
    assert answered.status_code == 201, answered.text
    call_id = answered.json()["id"]
    read_back = client.get(f"/v1/calls/{call_id}", headers=tenant.auth)
    stored = _stored(settings, call_id)

    for seen in (answered.json(), read_back.json()):
        assert [t["text"] for t in seen["turns"]] == [
            "My card is [card], expiring 12/27.",
            "Email me at [email] or [email].",
            "Call me back on [phone], patient number 4271, at 10:30 on 2026-11-24.",
        ]
        assert (seen["from_number"], seen["to_number"]) == ("+1415•••••99", "+4420••••••58")
    assert "[card]" in stored and "[email]" in stored and "+4420" in stored
    for place in (answered.text, read_back.text, stored, logs.getvalue()):
        assert not [original for original in ORIGINALS if original in place]
    assert logs.getvalue(), "the request wrote no log line to check"


def test_keep_policy_stores_what_was_said(
    client: TestClient, settings: Settings, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant(pii_policy="keep")
    body = _call(_agent(client, tenant))
    answered = client.post("/v1/calls", json=body, headers=tenant.auth)
    assert answered.status_code == 201, answered.text
    stored = _stored(settings, answered.json()["id"])
    assert [t["text"] for t in answered.json()["turns"]] == [t["text"] for t in body["turns"]]
    assert (answered.json()["from_number"], answered.json()["to_number"]) == (FROM, TO)
    for original in (CARD, EMAIL, PHONE, FROM, TO):
        assert original in stored


def test_a_long_transcript_is_redacted_all_the_same(
    client: TestClient, settings: Settings, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    body = _call(_agent(client, tenant))
    filler = "and then I said that it was fine, " * 300  # 10 kB a turn, 100 kB in all
    body["turns"] = [{**turn, "text": filler + turn["text"]} for turn in body["turns"] * 3]
    assert sum(len(turn["text"]) for turn in body["turns"]) > LARGE_TRANSCRIPT_CHARS
    answered = client.post("/v1/calls", json=body, headers=tenant.auth)
    assert answered.status_code == 201, answered.text
    stored = _stored(settings, answered.json()["id"])
    assert stored.count("[card]") == 3
    assert not [original for original in ORIGINALS if original in stored + answered.text]
