"""The app in RabbitMQ mode (``amqp_url`` set): a change made through the API reaches a
tenant's webhook receiver through the real broker (outbox → relay → exchange → the
webhook queue → fan-out → sender). SQLite keeps the tenants its own, so the fan-out of
this process finds no hooks for events other processes publish to the shared exchange;
the queue and the connection are named for this test and deleted after it."""

from __future__ import annotations

import asyncio
import functools
import json
import secrets
from pathlib import Path

import aio_pika
import pytest
from fastapi.testclient import TestClient
from receiver import Receiver
from test_api_agents import acme
from test_webhooks import wait_for

from conftest import ADMIN_TOKEN, PASSWORD, make_settings
from voxplane.api.app import create_app
from voxplane.events import AmqpBus
from voxplane.events import worker as worker_module
from voxplane.events.webhooks import WebhookFanout
from voxplane.services import platform as platform_module

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


async def delete_queues(queue: str) -> None:
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(queue)
        await channel.queue_delete(f"{queue}.dead")


def test_an_agent_update_reaches_a_webhook_through_rabbitmq(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"vxp-it-{secrets.token_hex(4)}"
    queue = f"{name}.webhooks"
    buses: list[AmqpBus] = []

    def open_bus(url: str | None) -> AmqpBus:
        assert url == AMQP_URL
        buses.append(AmqpBus(url, name=name))
        return buses[-1]

    monkeypatch.setattr(platform_module, "open_bus", open_bus)
    monkeypatch.setattr(
        worker_module, "WebhookFanout", functools.partial(WebhookFanout, queue=queue)
    )
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'voxplane.db'}",
        tmp_path,
        amqp_url=AMQP_URL,
        webhook_allow_private_networks=True,
    )
    receiver = Receiver()
    try:
        with TestClient(create_app(settings)) as client:
            tenant = f"t-{secrets.token_hex(4)}"
            created = client.post(
                "/v1/tenants",
                json={"name": tenant, "email": f"o@{tenant}.test", "password": PASSWORD},
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            )
            assert created.status_code == 201, created.text
            tenant_id = created.json()["tenant_id"]
            auth = {"Authorization": f"Bearer {created.json()['api_key']}"}
            wanted = {"url": receiver.url, "events": ["agent.updated"]}
            hook = client.post("/v1/webhooks", json=wanted, headers=auth)
            assert hook.status_code == 201, hook.text
            agent = client.post("/v1/agents", json=acme(), headers=auth)
            assert agent.status_code == 201, agent.text
            agent_id = agent.json()["id"]
            renamed = {**acme(), "name": "Acme, renamed"}
            updated = client.put(f"/v1/agents/{agent_id}", json=renamed, headers=auth)
            assert updated.status_code == 200, updated.text

            def changes() -> list[str]:
                bodies = [json.loads(r.body) for r in receiver.received if r.status == 200]
                return [b["data"]["change"] for b in bodies if b["data"]["agent_id"] == agent_id]

            assert wait_for(lambda: "updated" in changes(), timeout_s=20.0)
            update = next(
                json.loads(r.body)
                for r in receiver.received
                if json.loads(r.body)["data"].get("change") == "updated"
            )
            assert update["type"] == "agent.updated" and update["tenant_id"] == tenant_id
            assert update["data"]["name"] == "Acme, renamed" and update["data"]["version"] == 2
        assert len(buses) == 1 and buses[0].durable  # the broker carried them, not memory
    finally:
        receiver.close()
        asyncio.run(delete_queues(queue))
