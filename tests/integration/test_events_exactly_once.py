"""The proof of the outbox: under load, with the relay killed again and again and the
broker dropping the connection, every event reaches a real webhook receiver, none is
lost, and after dropping repeats by id each arrives exactly once (PostgreSQL, RabbitMQ)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import aio_pika
import pytest
from fastapi.testclient import TestClient
from receiver import Answer, Receiver
from sqlalchemy import func, select

from conftest import ADMIN_TOKEN, PASSWORD, _pg, make_settings
from voxplane.api.app import create_app
from voxplane.events import AmqpBus, OutboxRelay, RelayOptions, new_event, outbox
from voxplane.events.delivery import DeliveryOptions, WebhookSender
from voxplane.events.webhooks import WebhookFanout
from voxplane.security.secretbox import load_keyring
from voxplane.store.db import Database
from voxplane.store.models import OutboxEvent, WebhookDelivery

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
EVENTS = 400
RELAY_KILLS = 4


def setup(client: TestClient, url: str) -> tuple[str, str]:
    """A tenant and its webhook to ``url``, through the API; (tenant id, webhook id)."""
    name = f"eo-{secrets.token_hex(4)}"
    created = client.post(
        "/v1/tenants",
        json={"name": name, "email": f"o@{name}.test", "password": PASSWORD},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert created.status_code == 201, created.text
    auth = {"Authorization": f"Bearer {created.json()['api_key']}"}
    hook = client.post("/v1/webhooks", json={"url": url, "events": ["*"]}, headers=auth)
    assert hook.status_code == 201, hook.text
    return created.json()["tenant_id"], hook.json()["id"]


async def drop_broker_connections(name: str) -> int:
    """Have RabbitMQ close our connections (by connection name), as a broker restart would."""
    listing = await asyncio.create_subprocess_exec(
        "rabbitmqctl",
        "list_connections",
        "pid",
        "client_properties",
        "--quiet",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await listing.communicate()
    pids = [line.split("\t")[0] for line in out.decode().splitlines() if name in line]
    for pid in pids:
        closing = await asyncio.create_subprocess_exec(
            "rabbitmqctl",
            "close_connection",
            pid,
            "test: broker drops the connection",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await closing.wait()
    return len(pids)


async def until(check: Callable[[], bool], timeout_s: float) -> None:
    async with asyncio.timeout(timeout_s):
        while True:  # the receiver is a thread: polled, nothing to await
            if check():
                return
            await asyncio.sleep(0.05)


async def delivered_rows(db: Database, tenant_id: str) -> int:
    async with db.unit() as session:
        count = await session.scalar(
            select(func.count()).where(
                WebhookDelivery.tenant_id == tenant_id, WebhookDelivery.status == "delivered"
            )
        )
    return int(count or 0)


async def chaos(pg_url: str, key_file: Path, tenant_id: str, receiver: Receiver) -> None:
    db = Database(pg_url)
    name = f"vxp-eo-{secrets.token_hex(4)}"
    queue = f"{name}.webhooks"
    bus = AmqpBus(AMQP_URL, name=name)
    keyring = load_keyring(key_file=key_file, env_value=None, create=False)
    sender = WebhookSender(db, keyring, DeliveryOptions(allow_private=True, backoff_base_s=0.05))
    fanout = WebhookFanout(db, bus, sender.wake, queue=queue)
    options = RelayOptions(batch=25, idle_poll_s=0.02, max_backoff_s=0.5)
    expected: list[str] = []
    relay: asyncio.Task[None] | None = None

    async def produce() -> None:
        for _ in range(EVENTS // 10):
            async with db.unit() as session:
                for _ in range(10):
                    event = new_event("agent.updated", tenant_id, agent_id="agt_x", version=1)
                    outbox.add(session, event)
                    expected.append(event.id)
            await asyncio.sleep(random.uniform(0, 0.03))

    async def keep(run: Callable[[], object]) -> None:  # the worker's supervision, in short
        while True:
            with contextlib.suppress(Exception):
                await run()  # type: ignore[misc]
            await asyncio.sleep(0.1)

    try:
        # As the events worker does: the queue is bound before the relay publishes (the
        # broker confirms, then drops, an event no queue takes).
        await bus.declare(queue, ["#"])
        async with asyncio.TaskGroup() as group:
            helpers = [group.create_task(keep(fanout.run)), group.create_task(sender.run())]
            producer = group.create_task(produce())
            relay = asyncio.create_task(OutboxRelay(db, bus, options).run())
            for kill in range(RELAY_KILLS):
                await asyncio.sleep(random.uniform(0.1, 0.4))
                relay.cancel()  # killed wherever it is: mid-publish, before the mark…
                with contextlib.suppress(asyncio.CancelledError):
                    await relay
                if kill == 1:
                    assert await drop_broker_connections(name) >= 1
                relay = asyncio.create_task(OutboxRelay(db, bus, options).run())
            await producer
            await until(lambda: len(set(receiver.ids(accepted_only=True))) >= EVENTS, 120)
            # The receiver answers before the sender records the answer: wait for the
            # record too (cancelling the sender earlier may lose the last status write).
            with contextlib.suppress(TimeoutError):  # the count is asserted below
                async with asyncio.timeout(30):
                    while True:  # polled: the sender's writes signal nothing
                        if await delivered_rows(db, tenant_id) >= EVENTS:
                            break
                        await asyncio.sleep(0.05)
            relay.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await relay
            for helper in helpers:
                helper.cancel()

        accepted = receiver.ids(accepted_only=True)
        assert len(expected) == EVENTS
        assert set(accepted) == set(expected), "an event was lost, or one nobody sent arrived"
        assert len(accepted) == EVENTS, "an event accepted once was delivered again"
        async with db.unit() as session:
            pending = await session.scalar(
                select(func.count()).where(
                    OutboxEvent.tenant_id == tenant_id, OutboxEvent.published_at.is_(None)
                )
            )
        rows = await delivered_rows(db, tenant_id)
        assert pending == 0
        assert rows == EVENTS  # one delivery per event, however often the bus repeated it
    finally:
        if relay is not None:  # not in the task group: a failed run must stop it too, or
            relay.cancel()  # its database connection outlives the pool (ResourceWarning)
            with contextlib.suppress(asyncio.CancelledError):
                await relay
        await sender.aclose()
        await bus.aclose()
        await db.aclose()
        connection = await aio_pika.connect(AMQP_URL)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(queue)
            await channel.queue_delete(f"{queue}.dead")


@pytest.fixture
def own_pg() -> Iterator[str]:
    """A database of its own: no other test's deliveries for this sender to pick up."""
    name = f"voxplane_eo_{secrets.token_hex(4)}"
    asyncio.run(_pg(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_every_event_arrives_exactly_once_through_relay_kills_and_broker_drops(
    own_pg: str, tmp_path: Path
) -> None:
    pg_url = own_pg
    receiver = Receiver(lambda n: Answer(500, b"flaky") if n % 7 == 3 else Answer(204, b""))
    settings = make_settings(
        pg_url, tmp_path, events_worker=False, webhook_allow_private_networks=True
    )
    try:
        with TestClient(create_app(settings)) as client:
            tenant_id, _ = setup(client, receiver.url)
        asyncio.run(chaos(pg_url, settings.key_file, tenant_id, receiver))
        # Retries of failed attempts resend the same id: the receiver dedups them by id.
        assert len(receiver.received) > EVENTS
    finally:
        receiver.close()
