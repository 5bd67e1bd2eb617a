"""The stored credential bytes are not the plaintext; no endpoint and no log line contains it.

The same goes for the other secrets a client hands us (passwords, API keys, access and
refresh tokens) and for what callers say and the numbers they call from.
"""

from __future__ import annotations

import io
import json
import logging
import secrets
import string
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import select

from conftest import ADMIN_TOKEN, PASSWORD, Tenant
from voxplane.observability.logs import configure_logging
from voxplane.services.platform import Platform
from voxplane.store.models import Credential

EXAMPLE = Path(__file__).parents[2] / "examples" / "agents" / "acme-dental.yaml"
CALLER = "+14155550123"
SAID = (
    "My card number ends in nine nine one two and I need a crown.",
    "I can book you in for Tuesday at ten, Mister Appleseed.",
)


def _provider_key() -> str:
    alphabet = string.ascii_letters + string.digits
    return "sk-test-" + "".join(secrets.choice(alphabet) for _ in range(40))


def _platform(client: TestClient) -> Platform:
    platform: Platform = client.app.state.platform  # type: ignore[attr-defined]
    return platform


def _credential_row(client: TestClient, credential_id: str) -> dict[str, Any]:
    table = Credential.__table__
    platform = _platform(client)

    async def fetch() -> dict[str, Any]:
        async with platform.db.engine.connect() as connection:
            result = await connection.execute(select(table).where(table.c.id == credential_id))
            return dict(result.mappings().one())

    assert client.portal is not None
    return client.portal.call(fetch)


def _reveal(client: TestClient, tenant_id: str, name: str) -> str:
    assert client.portal is not None
    return client.portal.call(_platform(client).credentials.reveal, tenant_id, name)


def test_credentials_are_sealed_and_only_ever_shown_masked(
    client: TestClient, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    plaintext, rotated_to = _provider_key(), _provider_key()
    name = "openai-main"
    created = client.post(
        "/v1/credentials",
        json={"name": name, "provider": "openai", "secret": plaintext},
        headers=tenant.auth,
    )
    assert created.status_code == 201, created.text
    credential = created.json()
    assert credential["masked"] == f"{plaintext[:4]}…{plaintext[-4:]}"
    assert "secret" not in credential

    row = _credential_row(client, credential["id"])
    sealed = bytes(row["sealed"])
    assert plaintext.encode() not in sealed
    assert plaintext[8:24].encode() not in sealed  # not even a stretch of it
    assert row["key_id"] == _platform(client).keyring.primary
    assert all(plaintext not in str(value) for value in row.values())
    # what is stored really is the secret, encrypted: the runtime can open it
    assert _reveal(client, tenant.id, name) == plaintext

    rotated = client.put(
        f"/v1/credentials/{credential['id']}", json={"secret": rotated_to}, headers=tenant.auth
    )
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["masked"] == f"{rotated_to[:4]}…{rotated_to[-4:]}"
    assert bytes(_credential_row(client, credential["id"])["sealed"]) != sealed
    assert _reveal(client, tenant.id, name) == rotated_to

    # a rejected secret is not echoed back in the 422 either
    too_long = client.put(
        f"/v1/credentials/{credential['id']}",
        json={"secret": plaintext + "x" * 8192},
        headers=tenant.auth,
    )
    wrong_type = client.post(
        "/v1/credentials",
        json={"name": "n", "provider": "openai", "secret": [plaintext]},
        headers=tenant.auth,
    )
    long_password = "p" + plaintext * 30
    too_long_password = client.post(
        "/v1/auth/login", json={"email": tenant.email, "password": long_password}
    )
    for refused in (too_long, wrong_type, too_long_password):
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"].startswith("body.")
    assert _reveal(client, tenant.id, name) == rotated_to

    responses = [
        created,
        rotated,
        too_long,
        wrong_type,
        too_long_password,
        client.get(f"/v1/credentials/{credential['id']}", headers=tenant.auth),
        client.get("/v1/credentials", headers=tenant.auth),
        client.get("/v1/audit-events", headers=tenant.auth),
        client.get("/openapi.json"),
    ]
    for response in responses:
        assert response.status_code < 500, response.text
        for secret in (plaintext, rotated_to):
            assert secret not in response.text, response.request.url
            assert secret[8:24] not in response.text, response.request.url
    events = responses[-2].json()["items"]
    assert {"credential.create", "credential.update"} <= {e["action"] for e in events}


# --- logs ----------------------------------------------------------------------------


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Every log line as parsed JSON, at debug level, from before the app starts."""
    root = logging.getLogger()
    loggers = dict(logging.root.manager.loggerDict)
    saved = {
        name: (logger.level, logger.propagate, list(logger.handlers))
        for name, logger in loggers.items()
        if isinstance(logger, logging.Logger)
    }
    saved_root = (root.level, list(root.handlers))
    stream = io.StringIO()
    configure_logging("debug", stream)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        for handler in [h for h in root.handlers if h not in saved_root[1]]:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(saved_root[0])
        for name, logger in logging.root.manager.loggerDict.items():
            if not isinstance(logger, logging.Logger):
                continue
            level, propagate, handlers = saved.get(name, (logging.NOTSET, True, []))
            logger.setLevel(level)
            logger.propagate = propagate
            logger.handlers[:] = handlers


def _call_record(agent_id: str) -> dict[str, Any]:
    started = datetime.now(UTC) - timedelta(minutes=2)
    return {
        "agent_id": agent_id,
        "transport": "simulated",
        "from_number": CALLER,
        "to_number": "+14155559876",
        "started_at": started.isoformat(),
        "ended_at": (started + timedelta(seconds=40)).isoformat(),
        "end_reason": "caller_hangup",
        "turns": [
            {"role": "user", "text": SAID[0], "start_ms": 0, "end_ms": 3000},
            {"role": "agent", "text": SAID[1], "start_ms": 3400, "end_ms": 6000},
        ],
        "metrics": [{"turn": 0, "stt_ms": 120, "brain_ms": 300, "tts_ms": 90}],
    }


def test_no_log_line_carries_a_secret_or_what_a_caller_said(
    log_lines: Callable[[], list[dict[str, Any]]],
    client: TestClient,
    new_tenant: Callable[..., Tenant],
) -> None:
    tenant = new_tenant()
    secrets_seen: list[str] = [PASSWORD, ADMIN_TOKEN, tenant.api_key]

    login = client.post("/v1/auth/login", json={"email": tenant.email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    first = login.json()
    refreshed = client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    pair = refreshed.json()
    secrets_seen += [first["access_token"], first["refresh_token"]]
    secrets_seen += [pair["access_token"], pair["refresh_token"]]
    user = {"Authorization": f"Bearer {pair['access_token']}", "X-Request-ID": "trace-me-123"}

    wrong_password = "hunter2-" + secrets.token_hex(8)
    secrets_seen.append(wrong_password)
    refused = client.post(
        "/v1/auth/login", json={"email": tenant.email, "password": wrong_password}
    )
    assert refused.status_code == 401

    key = client.post("/v1/api-keys", json={"name": "ci", "role": "developer"}, headers=user)
    assert key.status_code == 201, key.text
    key_secret = key.json()["secret"]
    secrets_seen.append(key_secret)
    by_key = {"Authorization": f"Bearer {key_secret}"}

    plaintext, rotated_to = _provider_key(), _provider_key()
    secrets_seen += [plaintext, rotated_to]
    credential = client.post(
        "/v1/credentials",
        json={"name": "openai", "provider": "openai", "secret": plaintext},
        headers=by_key,
    )
    assert credential.status_code == 201, credential.text
    credential_id = credential.json()["id"]
    rotated = client.put(
        f"/v1/credentials/{credential_id}", json={"secret": rotated_to}, headers=by_key
    )
    assert rotated.status_code == 200, rotated.text
    assert client.get("/v1/credentials", headers=by_key).status_code == 200
    assert _reveal(client, tenant.id, "openai") == rotated_to

    agent = client.post("/v1/agents", json=yaml.safe_load(EXAMPLE.read_text()), headers=by_key)
    assert agent.status_code == 201, agent.text
    call = client.post("/v1/calls", json=_call_record(agent.json()["id"]), headers=by_key)
    assert call.status_code == 201, call.text
    fetched = client.get(f"/v1/calls/{call.json()['id']}", headers=user)
    assert [t["text"] for t in fetched.json()["turns"]] == list(SAID)
    assert client.get("/v1/calls", headers=user).status_code == 200

    out = client.post("/v1/auth/logout", json={"refresh_token": pair["refresh_token"]})
    assert out.status_code == 204

    lines = log_lines()
    text = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines)
    for secret in secrets_seen:
        assert secret not in text, f"a secret is logged: {secret[:6]}…"
    for sentence in SAID:
        for stretch in (sentence, sentence[:24], sentence[-24:]):
            assert stretch not in text, f"caller content is logged: {stretch!r}"
    assert CALLER not in text
    assert CALLER.removeprefix("+") not in text

    access = [line for line in lines if line["logger"] == "voxplane.access"]
    assert len(access) >= 13, access
    assert all(line.get("request_id") for line in access), access
    assert "trace-me-123" in {line["request_id"] for line in access}
    tenant_routes = ("/v1/api-keys", "/v1/credentials", "/v1/agents", "/v1/calls")
    authenticated = [line for line in access if line["path"].startswith(tenant_routes)]
    assert len(authenticated) >= 8, access
    assert all(line.get("tenant_id") == tenant.id for line in authenticated), authenticated
