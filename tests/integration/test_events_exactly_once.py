"""The proof of the outbox (issue 12): under load, with the relay killed again and again,
the broker dropping the connection and then really restarting (``rabbitmqctl stop_app``,
an outage while the producer keeps writing to the outbox, ``start_app``), every event
reaches a real webhook receiver, none is lost, and after dropping repeats by id each
arrives exactly once (PostgreSQL, RabbitMQ).

The load runs in four quarters: the first with two relay kills and the connections
dropped; the second with the webhook fan-out paused, so its events wait on the durable
queue when the broker stops (they must survive the restart as persistent messages); the
third written while the broker is down, with a relay kill during the outage; the last
after the broker is back, with the fan-out resumed and one more relay kill. Whatever
happens, the broker is started again (in the test, and by the fixture as a last resort).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from receiver import Answer, Receiver
from sqlalchemy import func, select
from test_events_rabbitmq import delete_queues

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
QUARTER = EVENTS // 4
BROKER_OUTAGE_S = 1.5
"""The least time the broker stays stopped (the third quarter is written meanwhile)."""
BROKER_TIMEOUT_S = 120.0
"""The most a ``stop_app`` or ``start_app`` (and the wait for the listener) may take."""


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


def start_broker() -> None:
    """Start RabbitMQ's app (a no-op when it runs) and wait until it takes connections."""
    subprocess.run(
        ["rabbitmqctl", "start_app"], check=True, capture_output=True, timeout=BROKER_TIMEOUT_S
    )
    deadline = time.monotonic() + BROKER_TIMEOUT_S
    while True:
        check = subprocess.run(
            ["rabbitmq-diagnostics", "-q", "check_port_connectivity"],
            check=False,
            capture_output=True,
            timeout=BROKER_TIMEOUT_S,
        )
        if check.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"RabbitMQ takes no connections: {check.stdout!r}")
        time.sleep(0.2)


class Broker:
    """Stops and starts the RabbitMQ app (the whole node's, for everyone); ``stopped``
    stays set from before ``stop_app`` until the broker takes connections again, so the
    fixture knows to start it whatever happened in between."""

    def __init__(self) -> None:
        self.stopped = False

    async def stop(self) -> None:
        self.stopped = True  # first: a stop that fails halfway is started again too
        await asyncio.to_thread(
            subprocess.run,
            ["rabbitmqctl", "stop_app"],
            check=True,
            capture_output=True,
            timeout=BROKER_TIMEOUT_S,
        )

    async def start(self) -> None:
        await asyncio.to_thread(start_broker)
        self.stopped = False


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


async def chaos(
    pg_url: str, key_file: Path, tenant_id: str, receiver: Receiver, broker: Broker
) -> None:
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
    # Before each quarter of the load, the producer waits for its gate.
    fanout_paused, broker_down, broker_up = asyncio.Event(), asyncio.Event(), asyncio.Event()
    gates: list[asyncio.Event | None] = [None, fanout_paused, broker_down, broker_up]
    written = [asyncio.Event() for _ in gates]

    async def produce() -> None:
        for gate, done in zip(gates, written, strict=True):
            if gate is not None:
                await gate.wait()
            for _ in range(QUARTER // 10):
                async with db.unit() as session:
                    for _ in range(10):
                        event = new_event("agent.updated", tenant_id, agent_id="agt_x", version=1)
                        outbox.add(session, event)
                        expected.append(event.id)
                await asyncio.sleep(random.uniform(0, 0.03))
            done.set()

    async def keep(run: Callable[[], object]) -> None:  # the worker's supervision, in short
        while True:
            with contextlib.suppress(Exception):
                await run()  # type: ignore[misc]
            await asyncio.sleep(0.1)

    async def kill_relay() -> None:
        nonlocal relay
        await asyncio.sleep(random.uniform(0.1, 0.4))
        assert relay is not None
        relay.cancel()  # killed wherever it is: mid-publish, before the mark, in backoff…
        with contextlib.suppress(asyncio.CancelledError):
            await relay
        relay = asyncio.create_task(OutboxRelay(db, bus, options).run())

    async def queued(at_least: int) -> int:
        """The webhook queue's depth, once it holds ``at_least`` messages."""
        async with asyncio.timeout(30):
            while True:  # polled: the broker signals nothing
                if (depth := await bus.depth(queue)) >= at_least:
                    return depth
                await asyncio.sleep(0.05)

    try:
        # As the events worker does: the queue is bound before the relay publishes (the
        # broker confirms, then drops, an event no queue takes).
        await bus.declare(queue, ["#"])
        async with asyncio.TaskGroup() as group:
            consuming = group.create_task(keep(fanout.run))
            helpers = [consuming, group.create_task(sender.run())]
            producer = group.create_task(produce())
            relay = asyncio.create_task(OutboxRelay(db, bus, options).run())
            # 1st quarter: the relay killed twice, the broker drops our connections.
            await kill_relay()
            assert await drop_broker_connections(name) >= 1
            await kill_relay()
            await written[0].wait()
            # 2nd quarter: nobody consumes, so its events wait on the queue.
            consuming.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await consuming
            fanout_paused.set()
            await written[1].wait()
            waiting = await queued(QUARTER)
            # 3rd quarter: written while the broker is stopped; the relay killed meanwhile.
            await broker.stop()
            down_at = time.monotonic()
            broker_down.set()
            await kill_relay()
            async with asyncio.timeout(30):
                await written[2].wait()
            await asyncio.sleep(BROKER_OUTAGE_S - (time.monotonic() - down_at))
            assert not written[3].is_set()
            await broker.start()
            # The bus is back at once (ping, and the depth gauge: what waited is still
            # there, plus what the relay published since; the delivery of every event
            # below is what proves nothing on the queue was lost).
            await bus.ping()
            after = await bus.depth(queue)
            assert after >= waiting, f"{waiting} events waited on the queue, {after} after"
            # 4th quarter: the fan-out resumes, the relay is killed once more.
            helpers.append(group.create_task(keep(fanout.run)))
            broker_up.set()
            await kill_relay()
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
        if broker.stopped:  # never left stopped: others use this broker too
            await broker.start()
        await sender.aclose()
        await bus.aclose()
        await db.aclose()
        await delete_queues(queue)


@pytest.fixture
def own_pg() -> Iterator[str]:
    """A database of its own: no other test's deliveries for this sender to pick up."""
    name = f"voxplane_eo_{secrets.token_hex(4)}"
    asyncio.run(_pg(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def broker() -> Iterator[Broker]:
    """The broker's stop and start; started again at teardown if a run left it stopped.
    A SIGTERM (``timeout``'s default) unwinds like Ctrl-C meanwhile, so the teardown runs
    then too (nothing can after a SIGKILL)."""
    state = Broker()
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield state
    finally:
        try:
            if state.stopped:
                start_broker()
        finally:
            signal.signal(signal.SIGTERM, previous)


def test_every_event_arrives_exactly_once_through_relay_kills_and_a_broker_restart(
    own_pg: str, broker: Broker, tmp_path: Path
) -> None:
    pg_url = own_pg
    receiver = Receiver(lambda n: Answer(500, b"flaky") if n % 7 == 3 else Answer(204, b""))
    settings = make_settings(
        pg_url, tmp_path, events_worker=False, webhook_allow_private_networks=True
    )
    try:
        with TestClient(create_app(settings)) as client:
            tenant_id, _ = setup(client, receiver.url)
        asyncio.run(chaos(pg_url, settings.key_file, tenant_id, receiver, broker))
        # Retries of failed attempts resend the same id: the receiver dedups them by id.
        assert len(receiver.received) > EVENTS
    finally:
        receiver.close()
